// One typed shape per hypercall: a descriptor tells the dispatcher the call's ABI (simple or rep,
// sizes), and an adapter turns checked bytes into the typed input its handler takes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "hv/call_context.h"
#include "hv/var_header.h"
#include "hvk/tlfs/bytes.h"
#include "hvk/tlfs/call_codes.h"
#include "hvk/tlfs/status.h"

namespace hvk::hv {

struct NoInput {};
struct NoOutput {};

// Typed access to the elements of a rep call, copied in and out with memcpy.
template <typename T>
class RepInput {
 public:
  explicit RepInput(std::span<const std::byte> bytes) : bytes_(bytes) {}
  std::size_t size() const { return bytes_.size() / sizeof(T); }
  T operator[](std::size_t i) const { return tlfs::load<T>(bytes_, i * sizeof(T)); }

 private:
  std::span<const std::byte> bytes_;
};

template <typename T>
class RepOutput {
 public:
  explicit RepOutput(std::span<std::byte> bytes) : bytes_(bytes) {}
  std::size_t size() const { return bytes_.size() / sizeof(T); }
  void set(std::size_t i, const T& value) { tlfs::store(bytes_, value, i * sizeof(T)); }

 private:
  std::span<std::byte> bytes_;
};

// A rep handler's answer: the status, and how many of the elements it was given it completed.
struct RepResult {
  tlfs::Status status;
  std::uint16_t completed;
};

struct CallDescriptor {
  // input: the fixed header, its variable part (`var_bytes`, 0 unless var_header), then a rep
  // call's elements from the rep start on. output: the simple output, or the output elements
  // from the rep start on.
  using Invoke = RepResult (*)(CallContext&, std::span<const std::byte> input,
                               std::size_t var_bytes, std::span<std::byte> output);
  using Describe = std::size_t (*)(std::span<const std::byte> input, std::size_t var_bytes,
                                   char* buf, std::size_t n);

  tlfs::CallCode code;
  bool rep;
  std::uint16_t input_size;   // simple input, or rep header
  std::uint16_t output_size;  // simple output (0: none)
  std::uint16_t in_element;   // rep only
  std::uint16_t out_element;  // rep only (0: none)
  bool var_header;            // takes a variable header (the Ex calls' HV_VP_SET banks)
  Invoke invoke;
  Describe describe;  // formats the decoded input for --trace
};

template <typename In>
constexpr std::uint16_t size_of() {
  if constexpr (std::is_same_v<In, NoInput> || std::is_same_v<In, NoOutput>) {
    return 0;
  } else {
    return sizeof(In);
  }
}

template <typename In, typename Out, tlfs::Status (*Fn)(CallContext&, const In&, Out&),
          std::size_t (*Desc)(const In&, char*, std::size_t)>
constexpr CallDescriptor simple_call(tlfs::CallCode code) {
  CallDescriptor d{};
  d.code = code;
  d.rep = false;
  d.input_size = size_of<In>();
  d.output_size = size_of<Out>();
  d.invoke = [](CallContext& ctx, std::span<const std::byte> input, std::size_t,
                std::span<std::byte> output) -> RepResult {
    In in{};
    if constexpr (!std::is_same_v<In, NoInput>) in = tlfs::load<In>(input);
    Out out{};
    const tlfs::Status s = Fn(ctx, in, out);
    if constexpr (!std::is_same_v<Out, NoOutput>) {
      if (s == tlfs::Status::kSuccess) tlfs::store(output, out);
    }
    return {s, 0};
  };
  d.describe = [](std::span<const std::byte> input, std::size_t, char* buf,
                  std::size_t n) -> std::size_t {
    if constexpr (std::is_same_v<In, NoInput>) {
      return Desc(In{}, buf, n);
    } else {
      return Desc(tlfs::load<In>(input), buf, n);
    }
  };
  return d;
}

template <typename Header, typename InElem, typename OutElem,
          RepResult (*Fn)(CallContext&, const Header&, RepInput<InElem>, RepOutput<OutElem>),
          std::size_t (*Desc)(const Header&, RepInput<InElem>, char*, std::size_t)>
constexpr CallDescriptor rep_call(tlfs::CallCode code) {
  CallDescriptor d{};
  d.code = code;
  d.rep = true;
  d.input_size = sizeof(Header);
  d.in_element = sizeof(InElem);
  d.out_element = size_of<OutElem>();
  d.invoke = [](CallContext& ctx, std::span<const std::byte> input, std::size_t,
                std::span<std::byte> output) -> RepResult {
    const auto header = tlfs::load<Header>(input);
    return Fn(ctx, header, RepInput<InElem>(input.subspan(sizeof(Header))),
              RepOutput<OutElem>(output));
  };
  d.describe = [](std::span<const std::byte> input, std::size_t, char* buf,
                  std::size_t n) -> std::size_t {
    return Desc(tlfs::load<Header>(input), RepInput<InElem>(input.subspan(sizeof(Header))), buf, n);
  };
  return d;
}

// A simple call whose input header has a variable part; no output.
template <typename In, tlfs::Status (*Fn)(CallContext&, const In&, VarHeader),
          std::size_t (*Desc)(const In&, VarHeader, char*, std::size_t)>
constexpr CallDescriptor simple_var_call(tlfs::CallCode code) {
  CallDescriptor d{};
  d.code = code;
  d.rep = false;
  d.var_header = true;
  d.input_size = sizeof(In);
  d.invoke = [](CallContext& ctx, std::span<const std::byte> input, std::size_t var_bytes,
                std::span<std::byte>) -> RepResult {
    return {Fn(ctx, tlfs::load<In>(input), VarHeader(input.subspan(sizeof(In), var_bytes))), 0};
  };
  d.describe = [](std::span<const std::byte> input, std::size_t var_bytes, char* buf,
                  std::size_t n) -> std::size_t {
    return Desc(tlfs::load<In>(input), VarHeader(input.subspan(sizeof(In), var_bytes)), buf, n);
  };
  return d;
}

// A rep call whose input header has a variable part; the elements follow it.
template <typename Header, typename InElem, typename OutElem,
          RepResult (*Fn)(CallContext&, const Header&, VarHeader, RepInput<InElem>,
                          RepOutput<OutElem>),
          std::size_t (*Desc)(const Header&, VarHeader, RepInput<InElem>, char*, std::size_t)>
constexpr CallDescriptor rep_var_call(tlfs::CallCode code) {
  CallDescriptor d{};
  d.code = code;
  d.rep = true;
  d.var_header = true;
  d.input_size = sizeof(Header);
  d.in_element = sizeof(InElem);
  d.out_element = size_of<OutElem>();
  d.invoke = [](CallContext& ctx, std::span<const std::byte> input, std::size_t var_bytes,
                std::span<std::byte> output) -> RepResult {
    return Fn(ctx, tlfs::load<Header>(input), VarHeader(input.subspan(sizeof(Header), var_bytes)),
              RepInput<InElem>(input.subspan(sizeof(Header) + var_bytes)),
              RepOutput<OutElem>(output));
  };
  d.describe = [](std::span<const std::byte> input, std::size_t var_bytes, char* buf,
                  std::size_t n) -> std::size_t {
    return Desc(tlfs::load<Header>(input), VarHeader(input.subspan(sizeof(Header), var_bytes)),
                RepInput<InElem>(input.subspan(sizeof(Header) + var_bytes)), buf, n);
  };
  return d;
}

// The table of every call hvk implements (calls.cc); nullptr for an unknown code.
const CallDescriptor* find_call(std::uint16_t code);
std::span<const CallDescriptor> all_calls();

}  // namespace hvk::hv
