// HV_X64_SEGMENT_REGISTER, HV_X64_TABLE_REGISTER and HV_INITIAL_VP_CONTEXT (notes §4).
#pragma once

#include <cstddef>
#include <cstdint>

namespace hvk::tlfs {

// Segment attribute bits (the descriptor's access byte and flags, as the TLFS packs them).
namespace seg_attr {
inline constexpr std::uint16_t kTypeMask = 0x000F;
inline constexpr std::uint16_t kNonSystem = 1u << 4;     // S
inline constexpr unsigned kDplShift = 5;                 // DPL 6:5
inline constexpr std::uint16_t kPresent = 1u << 7;       // P
inline constexpr std::uint16_t kReservedMask = 0x0F00;   // 11:8
inline constexpr std::uint16_t kAvailable = 1u << 12;    // AVL
inline constexpr std::uint16_t kLong = 1u << 13;         // L
inline constexpr std::uint16_t kDefaultBig = 1u << 14;   // D/B
inline constexpr std::uint16_t kGranularity = 1u << 15;  // G
}  // namespace seg_attr

struct SegmentRegister {
  std::uint64_t base;
  std::uint32_t limit;
  std::uint16_t selector;
  std::uint16_t attributes;

  constexpr bool present() const { return attributes & seg_attr::kPresent; }
  constexpr bool long_mode() const { return attributes & seg_attr::kLong; }
  constexpr bool default_big() const { return attributes & seg_attr::kDefaultBig; }
  constexpr unsigned type() const { return attributes & seg_attr::kTypeMask; }
  constexpr unsigned dpl() const { return (attributes >> seg_attr::kDplShift) & 3u; }
  friend constexpr bool operator==(const SegmentRegister&, const SegmentRegister&) = default;
};
static_assert(sizeof(SegmentRegister) == 16);
static_assert(offsetof(SegmentRegister, base) == 0);
static_assert(offsetof(SegmentRegister, limit) == 8);
static_assert(offsetof(SegmentRegister, selector) == 12);
static_assert(offsetof(SegmentRegister, attributes) == 14);

struct TableRegister {
  std::uint16_t pad[3];
  std::uint16_t limit;
  std::uint64_t base;
  friend constexpr bool operator==(const TableRegister&, const TableRegister&) = default;
};
static_assert(sizeof(TableRegister) == 16);
static_assert(offsetof(TableRegister, pad) == 0);
static_assert(offsetof(TableRegister, limit) == 6);
static_assert(offsetof(TableRegister, base) == 8);

struct InitialVpContext {
  std::uint64_t rip;
  std::uint64_t rsp;
  std::uint64_t rflags;
  SegmentRegister cs;
  SegmentRegister ds;
  SegmentRegister es;
  SegmentRegister fs;
  SegmentRegister gs;
  SegmentRegister ss;
  SegmentRegister tr;
  SegmentRegister ldtr;
  TableRegister idtr;
  TableRegister gdtr;
  std::uint64_t efer;
  std::uint64_t cr0;
  std::uint64_t cr3;
  std::uint64_t cr4;
  std::uint64_t msr_cr_pat;
  friend constexpr bool operator==(const InitialVpContext&, const InitialVpContext&) = default;
};
static_assert(sizeof(InitialVpContext) == 224);
static_assert(offsetof(InitialVpContext, rip) == 0);
static_assert(offsetof(InitialVpContext, rsp) == 8);
static_assert(offsetof(InitialVpContext, rflags) == 16);
static_assert(offsetof(InitialVpContext, cs) == 24);
static_assert(offsetof(InitialVpContext, ds) == 40);
static_assert(offsetof(InitialVpContext, es) == 56);
static_assert(offsetof(InitialVpContext, fs) == 72);
static_assert(offsetof(InitialVpContext, gs) == 88);
static_assert(offsetof(InitialVpContext, ss) == 104);
static_assert(offsetof(InitialVpContext, tr) == 120);
static_assert(offsetof(InitialVpContext, ldtr) == 136);
static_assert(offsetof(InitialVpContext, idtr) == 152);
static_assert(offsetof(InitialVpContext, gdtr) == 168);
static_assert(offsetof(InitialVpContext, efer) == 184);
static_assert(offsetof(InitialVpContext, cr0) == 192);
static_assert(offsetof(InitialVpContext, cr3) == 200);
static_assert(offsetof(InitialVpContext, cr4) == 208);
static_assert(offsetof(InitialVpContext, msr_cr_pat) == 216);

}  // namespace hvk::tlfs
