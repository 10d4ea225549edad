// The Ex calls through the dispatcher: HvCallFlushVirtualAddressSpaceEx (0x0013),
// HvCallFlushVirtualAddressListEx (0x0014) and HvCallSendSyntheticClusterIpiEx (0x0015), their
// variable headers (the HV_VP_SET bank words), memory, fast and XMM fast forms, and their trace
// text. Conformance rows A8 and L7 (the HV_VP_SET itself: vp_set_test.cc).
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "engine_fixture.h"
#include "xmm_state.h"
#include "hv/calls.h"
#include "hvk/tlfs/flush.h"
#include "hvk/tlfs/vp_set.h"

namespace hvk::test {
namespace {

using hv::Action;
using hv::ExecMode;
using tlfs::FlushVirtualAddressExInput;
using tlfs::SendSyntheticClusterIpiExInput;
using tlfs::VpSetHeader;
using Ipi = RecordingBackend::Ipi;
using Words = std::initializer_list<std::uint64_t>;
namespace flags = tlfs::flush_flags;
namespace format = tlfs::vp_set_format;

// An Ex call's input bytes: the fixed header, the bank words (the variable header), then a rep
// call's elements.
template <typename Fixed>
std::vector<std::byte> ex_bytes(const Fixed& fixed, Words banks, Words elements = {}) {
  std::vector<std::byte> b(sizeof(Fixed) + 8 * (banks.size() + elements.size()));
  std::memcpy(b.data(), &fixed, sizeof(Fixed));
  std::size_t at = sizeof(Fixed);
  for (Words list : {banks, elements}) {
    for (std::uint64_t w : list) {
      std::memcpy(b.data() + at, &w, 8);
      at += 8;
    }
  }
  return b;
}

SendSyntheticClusterIpiExInput ipi_ex(std::uint32_t vector, VpSetHeader set,
                                      tlfs::InputVtl vtl = tlfs::InputVtl::current()) {
  return {vector, vtl, {}, set};
}

FlushVirtualAddressExInput flush_ex(std::uint64_t f, VpSetHeader set) {
  return {0x1000, f, set};
}

VpSetHeader sparse(std::uint64_t valid_banks) {
  return {format::kSparse4k, valid_banks};
}

constexpr VpSetHeader kAll{format::kAll, 0};

std::uint16_t qwords(Words w) {
  return static_cast<std::uint16_t>(w.size());
}

std::vector<tlfs::VpIndex> members(const hv::VpSet& s, tlfs::VpIndex count) {
  std::vector<tlfs::VpIndex> out;
  for (tlfs::VpIndex i = 0; i < count; ++i) {
    if (s.contains(i)) out.push_back(i);
  }
  return out;
}

class ExCalls : public Engine {
 protected:
  // Writes `in` at `gpa` and makes the call from `caller` with a variable header of `var` qwords.
  hv::Outcome mem(CallCode code, const std::vector<std::byte>& in, std::uint16_t var,
                  std::uint16_t reps = 0, tlfs::VpIndex caller = 0, std::uint64_t gpa = kIn) {
    EXPECT_TRUE(memory_.write(gpa, in));
    return raw_call(HypercallControl::make(code, false, reps, 0, var), gpa, kOut, nullptr, caller);
  }
  Status send(std::uint32_t vector, VpSetHeader set, Words banks,
              tlfs::InputVtl vtl = tlfs::InputVtl::current(), tlfs::VpIndex caller = 0) {
    return mem(CallCode::kSendSyntheticClusterIpiEx, ex_bytes(ipi_ex(vector, set, vtl), banks),
               qwords(banks), 0, caller)
        .result.status();
  }
  Status flush_space(std::uint64_t f, VpSetHeader set, Words banks, tlfs::VpIndex caller = 0) {
    return mem(CallCode::kFlushVirtualAddressSpaceEx, ex_bytes(flush_ex(f, set), banks),
               qwords(banks), 0, caller)
        .result.status();
  }
  hv::Outcome flush_list(std::uint64_t f, VpSetHeader set, Words banks, Words ranges) {
    return mem(CallCode::kFlushVirtualAddressListEx, ex_bytes(flush_ex(f, set), banks, ranges),
               qwords(banks), static_cast<std::uint16_t>(ranges.size()));
  }

  // A fast call whose register block (RDX, R8, XMM0-5) starts with `in`.
  hv::Outcome fast(HypercallControl control, const std::vector<std::byte>& in,
                   ExecMode mode = ExecMode::k64Bit) {
    std::array<std::byte, 16 + hv::VpState::kXmmBytes> block{};
    std::memcpy(block.data(), in.data(), std::min(in.size(), block.size()));
    std::uint64_t rdx = 0;
    std::uint64_t r8 = 0;
    std::memcpy(&rdx, block.data(), 8);
    std::memcpy(&r8, block.data() + 8, 8);
    std::memcpy(xmm_.regs.data(), block.data() + 16, xmm_.regs.size());
    st_ = fast_call_state(control, rdx, r8, mode);
    return dispatcher_->dispatch(*root_, *root_->vp(0), st_, &xmm_);
  }
  static HypercallControl fast_control(CallCode code, std::uint16_t var, std::uint16_t reps = 0,
                                       std::uint16_t start = 0) {
    return HypercallControl::make(code, true, reps, start, var);
  }

  XmmState xmm_;
  hv::VpCallState st_{};
};

// ---- The variable header in the control word (A8) ----

TEST_F(ExCalls, OnlyTheThreeExCallsTakeAVariableHeader) {
  std::vector<std::uint16_t> with;
  for (const hv::CallDescriptor& d : hv::all_calls()) {
    if (d.var_header) with.push_back(static_cast<std::uint16_t>(d.code));
  }
  EXPECT_EQ(with, (std::vector<std::uint16_t>{0x0013, 0x0014, 0x0015}));
}

TEST_F(ExCalls, AVariableHeaderOnTheNonExFormsIsInvalidInput) {
  const tlfs::FlushVirtualAddressInput f{0x1000, 0, 0b1};
  const tlfs::SendSyntheticClusterIpiInput ipi{0x30, tlfs::InputVtl::current(), {}, 0b1};
  struct ListOne {
    tlfs::FlushVirtualAddressInput header;
    std::uint64_t range;
  } list{f, 0x5000};
  for (std::uint16_t var : {1, 2, 0x3FF}) {
    EXPECT_EQ(status_of(HypercallControl::make(CallCode::kFlushVirtualAddressSpace, false, 0, 0,
                                               var),
                        f),
              Status::kInvalidHypercallInput)
        << var;
    EXPECT_EQ(status_of(HypercallControl::make(CallCode::kFlushVirtualAddressList, false, 1, 0,
                                               var),
                        list),
              Status::kInvalidHypercallInput)
        << var;
    EXPECT_EQ(status_of(HypercallControl::make(CallCode::kSendSyntheticClusterIpi, false, 0, 0,
                                               var),
                        ipi),
              Status::kInvalidHypercallInput)
        << var;
    // The fast form (RDX:R8) too.
    std::uint64_t rdx = 0;
    std::memcpy(&rdx, &ipi, 8);
    EXPECT_EQ(raw_call(HypercallControl::make(CallCode::kSendSyntheticClusterIpi, true, 0, 0, var),
                       rdx, ipi.processor_mask)
                  .result.status(),
              Status::kInvalidHypercallInput)
        << var;
  }
  EXPECT_TRUE(backend_.flushes.empty());
  EXPECT_TRUE(backend_.ipis.empty());
  // Without one, the same inputs go through.
  EXPECT_EQ(status_of(HypercallControl::make(CallCode::kFlushVirtualAddressSpace), f),
            Status::kSuccess);
  EXPECT_EQ(status_of(HypercallControl::make(CallCode::kFlushVirtualAddressList, false, 1), list),
            Status::kSuccess);
  EXPECT_EQ(status_of(HypercallControl::make(CallCode::kSendSyntheticClusterIpi), ipi),
            Status::kSuccess);
  EXPECT_EQ(backend_.flushes.size(), 2u);
  EXPECT_EQ(backend_.ipis, (std::vector<Ipi>{{0, 0, 0x30}}));
}

TEST_F(ExCalls, TheExFormsAcceptOne) {
  EXPECT_EQ(flush_space(0, sparse(0b1), {0b10}), Status::kSuccess);
  EXPECT_EQ(flush_list(0, sparse(0b1), {0b10}, {0x5000}).result.status(), Status::kSuccess);
  EXPECT_EQ(send(0x30, sparse(0b1), {0b10}), Status::kSuccess);
  EXPECT_EQ(backend_.flushes.size(), 2u);
  EXPECT_EQ(backend_.ipis, (std::vector<Ipi>{{1, 0, 0x30}}));
}

// ---- HvCallFlushVirtualAddressSpaceEx / ListEx ----

TEST_F(ExCalls, FlushSpaceExFlushesTheCallersVtlOnTheVpsOfTheSet) {
  make_root(root_config(70));
  // Banks 0 and 1: VPs 0 and 2, and 65.
  EXPECT_EQ(flush_space(0, sparse(0b11), {0b101, 0b10}, 1), Status::kSuccess);
  ASSERT_EQ(backend_.flushes.size(), 1u);
  EXPECT_EQ(backend_.flushes[0].caller, 1u);
  EXPECT_EQ(backend_.flushes[0].vtl, 0);
  EXPECT_FALSE(backend_.flushes[0].targets.all());
  EXPECT_EQ(members(backend_.flushes[0].targets, 70), (std::vector<tlfs::VpIndex>{0, 2, 65}));
}

TEST_F(ExCalls, FlushExAllFormatAndAllProcessorsNameEveryVp) {
  EXPECT_EQ(flush_space(0, kAll, {}), Status::kSuccess);
  EXPECT_EQ(flush_list(0, kAll, {}, {0x5000, 0x6000}).result.status(), Status::kSuccess);
  EXPECT_EQ(flush_space(flags::kAllProcessors, sparse(0b1), {0b10}), Status::kSuccess);
  EXPECT_EQ(flush_list(flags::kAllProcessors, sparse(0), {}, {0x5000}).result.status(),
            Status::kSuccess);
  ASSERT_EQ(backend_.flushes.size(), 4u);
  for (const auto& f : backend_.flushes) EXPECT_TRUE(f.targets.all());
}

TEST_F(ExCalls, FlushExRefusesAMalformedSetAndFlushesNothing) {
  EXPECT_EQ(flush_space(0, sparse(0b11), {0b1}), Status::kInvalidHypercallInput);
  EXPECT_EQ(flush_space(0, sparse(0b1), {0b1, 0b1}), Status::kInvalidHypercallInput);
  EXPECT_EQ(flush_space(0, sparse(0), {0b1}), Status::kInvalidHypercallInput);
  EXPECT_EQ(flush_space(0, {2, 0b1}, {0b1}), Status::kInvalidParameter);
  const hv::Outcome list = flush_list(0, sparse(0b11), {0b1}, {0x5000, 0x6000});
  EXPECT_EQ(list.result.status(), Status::kInvalidHypercallInput);
  EXPECT_EQ(list.result.reps_completed(), 0);
  EXPECT_EQ(flush_list(0, {7, 0}, {}, {0x5000}).result.status(), Status::kInvalidParameter);
  // HV_FLUSH_ALL_PROCESSORS does not excuse a malformed set: the set is parsed first.
  EXPECT_EQ(flush_space(flags::kAllProcessors, sparse(0b11), {0b1}),
            Status::kInvalidHypercallInput);
  EXPECT_EQ(flush_space(flags::kAllProcessors, {2, 0}, {}), Status::kInvalidParameter);
  EXPECT_TRUE(backend_.flushes.empty());
}

TEST_F(ExCalls, FlushExBanksBeyondThePartitionNameNoVp) {
  // 4 VPs: bank 1 (VPs 64-127) and bank 0's bits 4-63 name VPs the partition does not have.
  EXPECT_EQ(flush_space(0, sparse(0b11), {~0ull << 4, ~0ull}), Status::kSuccess);
  ASSERT_EQ(backend_.flushes.size(), 1u);
  EXPECT_TRUE(members(backend_.flushes[0].targets, root_->vp_count()).empty());
}

TEST_F(ExCalls, FlushListExCompletesEveryRangeAndRefusesNonGlobalOnly) {
  const hv::Outcome o = flush_list(0, sparse(0b1), {0b1}, {0x5000, 0x6003, 0x7000});
  EXPECT_EQ(o.action, Action::kComplete);
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  EXPECT_EQ(o.result.reps_completed(), 3);
  ASSERT_EQ(backend_.flushes.size(), 1u);
  EXPECT_EQ(members(backend_.flushes[0].targets, 4), (std::vector<tlfs::VpIndex>{0}));
  const hv::Outcome bad = flush_list(flags::kNonGlobalMappingsOnly, sparse(0b1), {0b1}, {0x5000});
  EXPECT_EQ(bad.result.status(), Status::kInvalidParameter);
  EXPECT_EQ(bad.result.reps_completed(), 0);
  // A rep count of 0 is refused by the dispatcher, as for every rep call.
  EXPECT_EQ(flush_list(0, sparse(0b1), {0b1}, {}).result.status(), Status::kInvalidHypercallInput);
  EXPECT_EQ(backend_.flushes.size(), 1u);
}

TEST_F(ExCalls, ALockedTargetSuspendsAnExFlushToo) {
  ASSERT_NO_FATAL_FAILURE(enable_vtl1(0));
  root_->vp(0)->set_current_vtl(1);
  ASSERT_EQ(status_of(HypercallControl::make(CallCode::kEnableVpVtl), start_input(1, 1)),
            Status::kSuccess);
  root_->vp(0)->set_current_vtl(0);
  root_->vp(1)->set_secure_config(1, 0, tlfs::secure_vtl_config::kTlbLocked);
  ASSERT_TRUE(root_->vp(1)->tlb_locked(0));
  EXPECT_EQ(mem(CallCode::kFlushVirtualAddressSpaceEx, ex_bytes(flush_ex(0, sparse(0b1)), {0b10}),
                1)
                .action,
            Action::kSuspend);
  EXPECT_EQ(mem(CallCode::kFlushVirtualAddressListEx,
                ex_bytes(flush_ex(0, kAll), {}, {0x5000}), 0, 1)
                .action,
            Action::kSuspend);
  EXPECT_TRUE(backend_.flushes.empty());
  EXPECT_EQ(flush_space(0, sparse(0b1), {0b01}), Status::kSuccess);  // VP 0 is not locked
  EXPECT_EQ(backend_.flushes.size(), 1u);
}

// ---- Where the input lies: header, variable header, elements, all in the input page ----

TEST_F(ExCalls, ListExInputIsHeaderThenBanksThenRangesAndMustFitThePage) {
  // 32 fixed bytes, 2 bank words, 3 ranges: 72 bytes.
  const auto in = ex_bytes(flush_ex(0, sparse(0b11)), {0b1, 0b0}, {0x5000, 0x6000, 0x7000});
  ASSERT_EQ(in.size(), 72u);
  const std::uint64_t page_end = kIn + tlfs::kPageSize;
  hv::Outcome o = mem(CallCode::kFlushVirtualAddressListEx, in, 2, 3, 0, page_end - 72);
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  EXPECT_EQ(o.result.reps_completed(), 3);
  // One quadword later, the last range is in the next page.
  o = mem(CallCode::kFlushVirtualAddressListEx, in, 2, 3, 0, page_end - 64);
  EXPECT_EQ(o.result.status(), Status::kInvalidAlignment);
  EXPECT_EQ(o.result.reps_completed(), 0);
  // Ending at the last byte of RAM is fine.
  o = mem(CallCode::kFlushVirtualAddressListEx, in, 2, 3, 0, kRamSize - 72);
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  EXPECT_EQ(backend_.flushes.size(), 2u);
}

TEST_F(ExCalls, SpaceExWithAllSixtyFourBanksFitsAndALargerHeaderDoesNot) {
  // 64 banks (VPs 0..4095): 32 + 512 = 544 bytes, exactly to the page end.
  const std::vector<std::uint64_t> words(64, 0b1);
  std::vector<std::byte> in(32 + 512);
  const FlushVirtualAddressExInput fixed = flush_ex(0, sparse(~0ull));
  std::memcpy(in.data(), &fixed, 32);
  std::memcpy(in.data() + 32, words.data(), 512);
  const std::uint64_t page_end = kIn + tlfs::kPageSize;
  EXPECT_EQ(mem(CallCode::kFlushVirtualAddressSpaceEx, in, 64, 0, 0, page_end - 544)
                .result.status(),
            Status::kSuccess);
  ASSERT_EQ(backend_.flushes.size(), 1u);
  EXPECT_EQ(members(backend_.flushes[0].targets, 4), (std::vector<tlfs::VpIndex>{0}));
  EXPECT_TRUE(backend_.flushes[0].targets.contains(64 * 63));
  EXPECT_EQ(mem(CallCode::kFlushVirtualAddressSpaceEx, in, 64, 0, 0, page_end - 536)
                .result.status(),
            Status::kInvalidAlignment);
  // The largest size the control word can say (1023 quadwords) cannot fit any page: refused as a
  // page straddle (notes §1 DECISION), before any bank is looked at.
  EXPECT_EQ(mem(CallCode::kFlushVirtualAddressSpaceEx, in, 0x3FF, 0, 0, kIn).result.status(),
            Status::kInvalidAlignment);
  // 508 quadwords fill the page exactly: the dispatcher passes it on, the set's size check refuses.
  EXPECT_EQ(mem(CallCode::kFlushVirtualAddressSpaceEx, in, 508, 0, 0, kIn).result.status(),
            Status::kInvalidHypercallInput);
  EXPECT_EQ(mem(CallCode::kFlushVirtualAddressSpaceEx, in, 509, 0, 0, kIn).result.status(),
            Status::kInvalidAlignment);
  EXPECT_EQ(backend_.flushes.size(), 1u);
}

class ExCallsRep : public ExCalls {
 protected:
  void SetUp() override {
    options_.max_reps_per_entry = 2;
    make_root(root_config(70));
  }
};

TEST_F(ExCallsRep, AContinuedListExRereadsTheBanksAndSkipsTheDoneRanges) {
  // Bank 1 only: VP 66. 5 ranges, 2 per entry: rep starts 0, 2, 4.
  const auto in = ex_bytes(flush_ex(0, sparse(0b10)), {0b100}, {1, 2, 3, 4, 5});
  // At the end of RAM: a continuation reading past the last range would be refused.
  const std::uint64_t gpa = kRamSize - in.size();
  ASSERT_TRUE(memory_.write(gpa, in));
  hv::VpCallState st{ExecMode::k64Bit, 0, {}};
  st.regs.rcx = HypercallControl::make(CallCode::kFlushVirtualAddressListEx, false, 5, 0, 1).raw;
  st.regs.rdx = gpa;
  st.regs.r8 = kOut;
  std::vector<std::uint16_t> starts;
  hv::Outcome o;
  do {
    starts.push_back(HypercallControl{st.regs.rcx}.rep_start());
    o = dispatcher_->dispatch(*root_, *root_->vp(0), st);
  } while (o.action == Action::kRetry && starts.size() < 10);
  EXPECT_EQ(starts, (std::vector<std::uint16_t>{0, 2, 4}));
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  EXPECT_EQ(o.result.reps_completed(), 5);
  ASSERT_EQ(backend_.flushes.size(), 3u);
  for (const auto& f : backend_.flushes) {
    EXPECT_EQ(members(f.targets, 70), (std::vector<tlfs::VpIndex>{66}));
  }
}

// ---- Fast and XMM fast forms ----

TEST_F(ExCalls, IpiExFastReadsTheSetFromR8AndTheXmmRegisters) {
  make_root(root_config(70));
  // RDX: vector and VTL; R8: the format; XMM0: the bank mask, then bank 0; XMM1: bank 1.
  const auto in = ex_bytes(ipi_ex(0x41, sparse(0b11)), {0b10, 0b1});
  const hv::Outcome o = fast(fast_control(CallCode::kSendSyntheticClusterIpiEx, 2), in);
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  EXPECT_EQ(backend_.ipis, (std::vector<Ipi>{{1, 0, 0x41}, {64, 0, 0x41}}));
  EXPECT_EQ(xmm_.reads, 1);
  EXPECT_EQ(xmm_.writes, 0);  // no output
  EXPECT_FALSE(o.fast_output_in_gprs);
  EXPECT_EQ(st_.regs.rax, tlfs::HypercallResult::make(Status::kSuccess).raw);
}

TEST_F(ExCalls, IpiExFastFromA32BitCaller) {
  const auto in = ex_bytes(ipi_ex(0x42, sparse(0b1)), {0b1100});
  EXPECT_EQ(fast(fast_control(CallCode::kSendSyntheticClusterIpiEx, 1), in, ExecMode::kProtected)
                .result.status(),
            Status::kSuccess);
  EXPECT_EQ(backend_.ipis, (std::vector<Ipi>{{2, 0, 0x42}, {3, 0, 0x42}}));
}

TEST_F(ExCalls, FastExInputMustFitTheRegisterBlock) {
  // 112 bytes: RDX, R8 and XMM0-5. IPI Ex: 24 + 8 * 11 fit, 12 banks do not.
  auto banks = [](std::size_t n) {
    std::vector<std::uint64_t> w(n, 0);
    w[0] = 0b10;  // VP 1
    return w;
  };
  auto ipi = [&](std::size_t n) {
    std::vector<std::byte> in(24 + 8 * n);
    const auto fixed = ipi_ex(0x43, sparse((1ull << n) - 1));
    std::memcpy(in.data(), &fixed, 24);
    std::memcpy(in.data() + 24, banks(n).data(), 8 * n);
    return fast(fast_control(CallCode::kSendSyntheticClusterIpiEx, static_cast<std::uint16_t>(n)),
                in)
        .result.status();
  };
  EXPECT_EQ(ipi(12), Status::kInvalidHypercallInput);
  EXPECT_TRUE(backend_.ipis.empty());
  EXPECT_EQ(ipi(11), Status::kSuccess);
  EXPECT_EQ(backend_.ipis, (std::vector<Ipi>{{1, 0, 0x43}}));
  // SpaceEx: 32 + 8 * 10 fit, 11 do not.
  auto space = [&](std::size_t n) {
    std::vector<std::byte> in(32 + 8 * n);
    const auto fixed = flush_ex(0, sparse((1ull << n) - 1));
    std::memcpy(in.data(), &fixed, 32);
    std::memcpy(in.data() + 32, banks(n).data(), 8 * n);
    return fast(
               fast_control(CallCode::kFlushVirtualAddressSpaceEx, static_cast<std::uint16_t>(n)),
               in)
        .result.status();
  };
  EXPECT_EQ(space(11), Status::kInvalidHypercallInput);
  EXPECT_TRUE(backend_.flushes.empty());
  EXPECT_EQ(space(10), Status::kSuccess);
  ASSERT_EQ(backend_.flushes.size(), 1u);
  EXPECT_EQ(members(backend_.flushes[0].targets, 4), (std::vector<tlfs::VpIndex>{1}));
  // ListEx with one bank: 32 + 8 + 8 * 9 ranges fit, 10 do not (and none is done).
  const auto list9 = ex_bytes(flush_ex(0, sparse(0b1)), {0b1}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  hv::Outcome o = fast(fast_control(CallCode::kFlushVirtualAddressListEx, 1, 10), list9);
  EXPECT_EQ(o.result.status(), Status::kInvalidHypercallInput);
  EXPECT_EQ(o.result.reps_completed(), 0);
  o = fast(fast_control(CallCode::kFlushVirtualAddressListEx, 1, 9), list9);
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  EXPECT_EQ(o.result.reps_completed(), 9);
  EXPECT_EQ(backend_.flushes.size(), 2u);
  EXPECT_EQ(xmm_.writes, 0);
}

TEST_F(ExCalls, FastExWithoutTheCallersXmmStateIsInvalidInput) {
  // raw_call passes no VpState: a fast Ex call needs XMM0 for its 24 fixed bytes already.
  const auto in = ex_bytes(ipi_ex(0x44, kAll), {});
  std::uint64_t rdx = 0;
  std::uint64_t r8 = 0;
  std::memcpy(&rdx, in.data(), 8);
  std::memcpy(&r8, in.data() + 8, 8);
  EXPECT_EQ(raw_call(fast_control(CallCode::kSendSyntheticClusterIpiEx, 0), rdx, r8)
                .result.status(),
            Status::kInvalidHypercallInput);
  EXPECT_TRUE(backend_.ipis.empty());
}

TEST_F(ExCallsRep, AContinuedFastListExSkipsTheDoneRangesInTheBlock) {
  // Bank 1 only (VP 65), 3 ranges, 2 per entry: rep starts 0 then 2, same register block.
  const auto in = ex_bytes(flush_ex(0, sparse(0b10)), {0b10}, {1, 2, 3});
  hv::Outcome o = fast(fast_control(CallCode::kFlushVirtualAddressListEx, 1, 3), in);
  ASSERT_EQ(o.action, Action::kRetry);
  const HypercallControl again{st_.regs.rcx};
  EXPECT_EQ(again.rep_start(), 2);
  EXPECT_EQ(again.var_header_qwords(), 1);
  o = fast(again, in);
  EXPECT_EQ(o.action, Action::kComplete);
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  EXPECT_EQ(o.result.reps_completed(), 3);
  ASSERT_EQ(backend_.flushes.size(), 2u);
  for (const auto& f : backend_.flushes) {
    EXPECT_EQ(members(f.targets, 70), (std::vector<tlfs::VpIndex>{65}));
  }
}

// ---- HvCallSendSyntheticClusterIpiEx ----

TEST_F(ExCalls, IpiExSendsTheVectorToExactlyTheVpsOfTheSet) {
  make_root(root_config(130));
  // Banks 0 and 2: VPs 0 and 3, and 128.
  EXPECT_EQ(send(0x40, sparse(0b101), {0b1001, 0b1}), Status::kSuccess);
  EXPECT_EQ(backend_.ipis, (std::vector<Ipi>{{0, 0, 0x40}, {3, 0, 0x40}, {128, 0, 0x40}}));
  backend_.ipis.clear();
  // HV_GENERIC_SET_ALL: every VP, once each.
  EXPECT_EQ(send(0x41, kAll, {}), Status::kSuccess);
  ASSERT_EQ(backend_.ipis.size(), 130u);
  for (tlfs::VpIndex i = 0; i < 130; ++i) EXPECT_EQ(backend_.ipis[i], (Ipi{i, 0, 0x41}));
}

TEST_F(ExCalls, IpiExBanksBeyondThePartitionSendNothing) {
  EXPECT_EQ(send(0x30, sparse(0b10), {~0ull}), Status::kSuccess);
  EXPECT_EQ(send(0x30, sparse(1ull << 63), {~0ull}), Status::kSuccess);
  EXPECT_EQ(send(0x30, sparse(0), {}), Status::kSuccess);
  EXPECT_TRUE(backend_.ipis.empty());
  EXPECT_EQ(send(0x31, sparse(0b1), {~0ull}), Status::kSuccess);  // VPs 0-3 of 0-63
  EXPECT_EQ(backend_.ipis,
            (std::vector<Ipi>{{0, 0, 0x31}, {1, 0, 0x31}, {2, 0, 0x31}, {3, 0, 0x31}}));
}

TEST_F(ExCalls, IpiExRefusesAMalformedSetOrVectorAndSendsNothing) {
  EXPECT_EQ(send(0x30, sparse(0b11), {0b1}), Status::kInvalidHypercallInput);
  EXPECT_EQ(send(0x30, sparse(0), {0b1}), Status::kInvalidHypercallInput);
  EXPECT_EQ(send(0x30, {2, 0b1}, {0b1}), Status::kInvalidParameter);
  for (std::uint32_t v : {0u, 0xFu, 0x100u, 0xFFFF'FFFFu}) {
    EXPECT_EQ(send(v, sparse(0b1), {0b1}), Status::kInvalidParameter) << v;
  }
  // The set is parsed before the vector is looked at.
  EXPECT_EQ(send(0x5, sparse(0b11), {0b1}), Status::kInvalidHypercallInput);
  EXPECT_TRUE(backend_.ipis.empty());
  EXPECT_EQ(send(0x10, sparse(0b1), {0b1}), Status::kSuccess);
  EXPECT_EQ(send(0xFF, sparse(0b1), {0b1}), Status::kSuccess);
  EXPECT_EQ(backend_.ipis, (std::vector<Ipi>{{0, 0, 0x10}, {0, 0, 0xFF}}));
}

TEST_F(ExCalls, IpiExTargetVtlRules) {
  EXPECT_EQ(send(0x30, kAll, {}, tlfs::InputVtl{0x20}), Status::kInvalidParameter);
  EXPECT_EQ(send(0x30, kAll, {}, tlfs::InputVtl::target(1)), Status::kInvalidVtlState);
  ASSERT_NO_FATAL_FAILURE(enable_vtl1(1));
  // VTL 0 interrupts VTL 1: only the VPs of the set that have VTL 1 get it.
  EXPECT_EQ(send(0x31, sparse(0b1), {0b11}, tlfs::InputVtl::target(1)), Status::kSuccess);
  EXPECT_EQ(backend_.ipis, (std::vector<Ipi>{{1, 1, 0x31}}));
  backend_.ipis.clear();
  // From VTL 1 with no VTL named: VTL 1; naming VTL 0: VTL 0.
  root_->vp(1)->set_current_vtl(1);
  EXPECT_EQ(send(0x32, kAll, {}, tlfs::InputVtl::current(), 1), Status::kSuccess);
  EXPECT_EQ(send(0x33, sparse(0b1), {0b101}, tlfs::InputVtl::target(0), 1), Status::kSuccess);
  EXPECT_EQ(backend_.ipis, (std::vector<Ipi>{{1, 1, 0x32}, {0, 0, 0x33}, {2, 0, 0x33}}));
}

// ---- Trace text ----

std::string describe(std::size_t (*f)(const SendSyntheticClusterIpiExInput&, hv::VarHeader, char*,
                                      std::size_t),
                     const SendSyntheticClusterIpiExInput& in, std::span<const std::uint64_t> w,
                     std::size_t n = 256) {
  std::vector<char> buf(n);
  const std::size_t len = f(in, hv::VarHeader(std::as_bytes(w)), buf.data(), buf.size());
  EXPECT_EQ(len, std::strlen(buf.data()));
  return buf.data();
}

TEST(ExDescribe, TheSetIsItsFormatMaskAndFirstFourBanks) {
  const std::array<std::uint64_t, 2> two{0x9, 0x1};
  EXPECT_EQ(describe(hv::describe_send_ipi_ex,
                     ipi_ex(0x40, sparse(0b101), tlfs::InputVtl::target(1)), two),
            "vector=0x40 vtl=0x11 set=(format=0 banks=0x5 0x9 0x1)");
  EXPECT_EQ(describe(hv::describe_send_ipi_ex, ipi_ex(0xfe, kAll), {}),
            "vector=0xfe vtl=0x00 set=(format=1 banks=0x0)");
  const std::array<std::uint64_t, 5> five{1, 2, 3, 4, 5};
  EXPECT_EQ(describe(hv::describe_send_ipi_ex, ipi_ex(0x20, sparse(0x1F)), five),
            "vector=0x20 vtl=0x00 set=(format=0 banks=0x1f 0x1 0x2 0x3 0x4 ...)");
  // A short buffer: cut, still terminated.
  EXPECT_EQ(describe(hv::describe_send_ipi_ex, ipi_ex(0x40, sparse(0b101)), two, 12),
            "vector=0x40");

  char buf[256];
  const std::array<std::uint64_t, 1> one{0x6};
  const std::array<std::uint64_t, 2> ranges{0x5000, 0x6000};
  hv::describe_flush_ex(flush_ex(flags::kAllVirtualAddressSpaces, sparse(0b1)),
                        hv::VarHeader(std::as_bytes(std::span(one))), buf, sizeof buf);
  EXPECT_STREQ(buf, "space=0x1000 flags=0x2 set=(format=0 banks=0x1 0x6)");
  hv::describe_flush_list_ex(flush_ex(0, sparse(0b1)), hv::VarHeader(std::as_bytes(std::span(one))),
                             hv::RepInput<tlfs::GvaRange>(std::as_bytes(std::span(ranges))), buf,
                             sizeof buf);
  EXPECT_STREQ(buf, "space=0x1000 flags=0x0 set=(format=0 banks=0x1 0x6) ranges=2");
}

class TextTrace final : public hv::TraceSink {
 public:
  void on_call(const hv::TraceRecord& r) noexcept override { texts.emplace_back(r.input_text); }
  std::vector<std::string> texts;
};

TEST_F(ExCalls, TheTraceShowsTheBanksOfTheVariableHeaderAndTheRangesAfterIt) {
  TextTrace trace;
  dispatcher_->set_trace(&trace);
  EXPECT_EQ(send(0x40, sparse(0b11), {0x9, 0x1}), Status::kSuccess);
  EXPECT_EQ(flush_list(0, sparse(0b1), {0x6}, {0x5000, 0x6000, 0x7000}).result.status(),
            Status::kSuccess);
  EXPECT_EQ(fast(fast_control(CallCode::kFlushVirtualAddressSpaceEx, 1),
                 ex_bytes(flush_ex(0, sparse(0b1)), {0x2}))
                .result.status(),
            Status::kSuccess);
  ASSERT_EQ(trace.texts.size(), 3u);
  EXPECT_EQ(trace.texts[0], "vector=0x40 vtl=0x00 set=(format=0 banks=0x3 0x9 0x1)");
  EXPECT_EQ(trace.texts[1], "space=0x1000 flags=0x0 set=(format=0 banks=0x1 0x6) ranges=3");
  EXPECT_EQ(trace.texts[2], "space=0x1000 flags=0x0 set=(format=0 banks=0x1 0x2)");
}

}  // namespace
}  // namespace hvk::test
