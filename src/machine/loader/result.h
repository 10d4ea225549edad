// A minimal success-or-error return type for the loader (g++ 12 has no std::expected).
//
// Errors are one human-readable line ("ELF: ..." / "boot_params: ..."), meant to be printed as is
// by the CLI. Accessing value() of a failed Result (or error() of a successful one) is a caller
// bug and throws (std::bad_variant_access / std::bad_optional_access).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace hvk::machine {

struct Error {
  std::string message;
};

inline Error fail(std::string message) {
  return Error{std::move(message)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const std::string& error() const { return std::get<1>(v_).message; }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT: implicit on purpose

  bool ok() const noexcept { return !error_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  const std::string& error() const { return error_.value().message; }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

}  // namespace hvk::machine
