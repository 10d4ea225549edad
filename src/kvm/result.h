#pragma once

#include <optional>
#include <utility>
#include <variant>

#include "kvm/error.h"

namespace hvk::kvm {

namespace detail {
// Reports a Result used without checking it and aborts: a bug in the caller, not a host error.
[[noreturn]] void unchecked_result(const Error* error);
}  // namespace detail

template <class T>
class Result;

// Success, or the Error that prevented it.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }

  void value() const {
    if (!ok()) detail::unchecked_result(&*error_);
  }
  const Error& error() const {
    if (ok()) detail::unchecked_result(nullptr);
    return *error_;
  }

 private:
  std::optional<Error> error_;
};

// A value or the Error that prevented it. Never throws: reading the wrong side aborts.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return *get(); }
  const T& value() const& { return *get(); }
  T&& value() && { return std::move(*get()); }
  T* operator->() { return get(); }
  const T* operator->() const { return get(); }
  T& operator*() & { return *get(); }
  const T& operator*() const& { return *get(); }

  const Error& error() const {
    if (ok()) detail::unchecked_result(nullptr);
    return *std::get_if<1>(&state_);
  }
  // The outcome without the value.
  Result<void> status() const {
    if (ok()) return {};
    return error();
  }

 private:
  T* get() {
    if (!ok()) detail::unchecked_result(std::get_if<1>(&state_));
    return std::get_if<0>(&state_);
  }
  const T* get() const {
    if (!ok()) detail::unchecked_result(std::get_if<1>(&state_));
    return std::get_if<0>(&state_);
  }

  std::variant<T, Error> state_;
};

}  // namespace hvk::kvm
