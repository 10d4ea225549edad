#include "hv/vp_registers.h"

#include <cstring>

namespace hvk::hv {

using tlfs::RegisterName;

namespace {

// HV_X64_SEGMENT_REGISTER and HV_X64_TABLE_REGISTER are 16 bytes, the size of a register value.
template <typename T>
tlfs::RegisterValue pack(const T& v) {
  static_assert(sizeof(T) == sizeof(tlfs::RegisterValue));
  tlfs::RegisterValue out;
  std::memcpy(&out, &v, sizeof out);
  return out;
}

template <typename T>
T unpack(const tlfs::RegisterValue& v) {
  T out;
  std::memcpy(&out, &v, sizeof out);
  return out;
}

std::uint64_t* scalar(tlfs::InitialVpContext& c, RegisterName name) {
  switch (name) {
    case RegisterName::kRip:
      return &c.rip;
    case RegisterName::kRsp:
      return &c.rsp;
    case RegisterName::kRflags:
      return &c.rflags;
    case RegisterName::kCr0:
      return &c.cr0;
    case RegisterName::kCr3:
      return &c.cr3;
    case RegisterName::kCr4:
      return &c.cr4;
    case RegisterName::kEfer:
      return &c.efer;
    case RegisterName::kPat:
      return &c.msr_cr_pat;
    default:
      return nullptr;
  }
}

tlfs::SegmentRegister* segment(tlfs::InitialVpContext& c, RegisterName name) {
  switch (name) {
    case RegisterName::kEs:
      return &c.es;
    case RegisterName::kCs:
      return &c.cs;
    case RegisterName::kSs:
      return &c.ss;
    case RegisterName::kDs:
      return &c.ds;
    case RegisterName::kFs:
      return &c.fs;
    case RegisterName::kGs:
      return &c.gs;
    case RegisterName::kLdtr:
      return &c.ldtr;
    case RegisterName::kTr:
      return &c.tr;
    default:
      return nullptr;
  }
}

tlfs::TableRegister* table(tlfs::InitialVpContext& c, RegisterName name) {
  switch (name) {
    case RegisterName::kIdtr:
      return &c.idtr;
    case RegisterName::kGdtr:
      return &c.gdtr;
    default:
      return nullptr;
  }
}

}  // namespace

bool is_general_register(RegisterName name) {
  tlfs::InitialVpContext c{};
  return scalar(c, name) != nullptr || segment(c, name) != nullptr || table(c, name) != nullptr;
}

std::optional<tlfs::RegisterValue> read_register(const tlfs::InitialVpContext& in,
                                                 RegisterName name) {
  tlfs::InitialVpContext c = in;
  if (const std::uint64_t* v = scalar(c, name)) return tlfs::RegisterValue{*v, 0};
  if (const tlfs::SegmentRegister* s = segment(c, name)) return pack(*s);
  if (const tlfs::TableRegister* t = table(c, name)) return pack(*t);
  return std::nullopt;
}

bool write_register(tlfs::InitialVpContext& c, RegisterName name,
                    const tlfs::RegisterValue& value) {
  if (std::uint64_t* v = scalar(c, name)) {
    *v = value.low;
    return true;
  }
  if (tlfs::SegmentRegister* s = segment(c, name)) {
    *s = unpack<tlfs::SegmentRegister>(value);
    return true;
  }
  if (tlfs::TableRegister* t = table(c, name)) {
    *t = unpack<tlfs::TableRegister>(value);
    return true;
  }
  return false;
}

}  // namespace hvk::hv
