// The dispatcher's ABI rules: mode and CPL, call codes, control word shape, fast calls, GPAs,
// register conventions, rep continuation.
#include "engine_fixture.h"

namespace hvk::test {
namespace {

using hv::Action;
using hv::ExecMode;

HypercallControl start_control() {
  return HypercallControl::make(CallCode::kStartVirtualProcessor);
}
HypercallControl vp_index_control(std::uint16_t count, std::uint16_t start = 0) {
  return HypercallControl::make(CallCode::kGetVpIndexFromApicId, false, count, start);
}
VpIndexQuery query(std::initializer_list<std::uint32_t> ids) {
  VpIndexQuery q{{tlfs::kPartitionIdSelf, tlfs::InputVtl::current(), {}}, {}};
  std::size_t i = 0;
  for (std::uint32_t id : ids) q.apic_ids[i++] = id;
  return q;
}

using Dispatcher = Engine;

TEST_F(Dispatcher, OutsideCpl0OrProtectedModeIsUd) {
  const auto in = start_input(1);
  memory_.write(kIn, tlfs::as_bytes(in));
  for (ExecMode m : {ExecMode::kReal, ExecMode::kVirtual8086}) {
    EXPECT_EQ(raw_call(start_control(), kIn, kOut, nullptr, 0, m, 0).action, Action::kInjectUd);
  }
  for (std::uint8_t cpl : {1, 2, 3}) {
    EXPECT_EQ(raw_call(start_control(), kIn, kOut, nullptr, 0, ExecMode::k64Bit, cpl).action,
              Action::kInjectUd);
    EXPECT_EQ(raw_call(start_control(), kIn, kOut, nullptr, 0, ExecMode::kProtected, cpl).action,
              Action::kInjectUd);
  }
  EXPECT_TRUE(backend_.starts.empty());
  // #UD comes before everything else, even an unknown call code.
  EXPECT_EQ(raw_call(HypercallControl{0xFFFF}, kIn, kOut, nullptr, 0, ExecMode::kReal).action,
            Action::kInjectUd);
}

TEST_F(Dispatcher, UnknownCallCode) {
  for (std::uint16_t code : {0x0000, 0x0001, 0x0098, 0x009B, 0x7FFF, 0xFFFF}) {
    const auto o = raw_call(HypercallControl{code}, kIn, kOut);
    EXPECT_EQ(o.action, Action::kComplete);
    EXPECT_EQ(o.result.status(), Status::kInvalidHypercallCode) << code;
  }
  // The code is checked before the rest of the control word.
  EXPECT_EQ(raw_call(HypercallControl{0x7777 | (1ull << 60)}, kIn, kOut).result.status(),
            Status::kInvalidHypercallCode);
}

TEST_F(Dispatcher, ReservedControlBitsAreInvalidInput) {
  const auto in = start_input(1);
  for (unsigned bit : {27u, 28u, 29u, 30u, 44u, 45u, 46u, 47u, 60u, 61u, 62u, 63u}) {
    EXPECT_EQ(status_of(HypercallControl{start_control().raw | (1ull << bit)}, in),
              Status::kInvalidHypercallInput)
        << "bit " << bit;
  }
  EXPECT_TRUE(backend_.starts.empty());
  EXPECT_EQ(status_of(start_control(), in), Status::kSuccess);
}

TEST_F(Dispatcher, NestedBitIsInvalidInput) {
  EXPECT_EQ(status_of(HypercallControl{start_control().raw | (1ull << 31)}, start_input(1)),
            Status::kInvalidHypercallInput);
}

TEST_F(Dispatcher, VariableHeaderOnACallWithoutOneIsInvalidInput) {
  EXPECT_EQ(status_of(HypercallControl::make(CallCode::kStartVirtualProcessor, false, 0, 0, 1),
                      start_input(1)),
            Status::kInvalidHypercallInput);
  EXPECT_EQ(status_of(HypercallControl::make(CallCode::kGetVpIndexFromApicId, false, 1, 0, 1),
                      query({1})),
            Status::kInvalidHypercallInput);
}

TEST_F(Dispatcher, SimpleCallWithRepFieldsIsInvalidInput) {
  EXPECT_EQ(
      status_of(HypercallControl::make(CallCode::kStartVirtualProcessor, false, 1), start_input(1)),
      Status::kInvalidHypercallInput);
  EXPECT_EQ(status_of(HypercallControl::make(CallCode::kStartVirtualProcessor, false, 0, 1),
                      start_input(1)),
            Status::kInvalidHypercallInput);
}

TEST_F(Dispatcher, RepCallNeedsCountAndStartBelowIt) {
  EXPECT_EQ(status_of(vp_index_control(0), query({1})), Status::kInvalidHypercallInput);
  EXPECT_EQ(status_of(vp_index_control(2, 2), query({1, 2})), Status::kInvalidHypercallInput);
  EXPECT_EQ(status_of(vp_index_control(2, 3), query({1, 2})), Status::kInvalidHypercallInput);
  EXPECT_EQ(status_of(vp_index_control(2, 1), query({1, 2})), Status::kSuccess);
}

TEST_F(Dispatcher, FastCallsThatFitTwoRegistersReadRdxAndR8Only) {
  // An 8-byte input fits: the partition id comes from RDX, and no memory is touched. (XMM fast
  // calls: xmm_fast_test.cc.)
  hv::Partition& child = make_child();
  EXPECT_EQ(raw_call(HypercallControl::make(CallCode::kInitializePartition, true), child.id(),
                     0xDEAD'BEEF'0000'0001ull)
                .result.status(),
            Status::kSuccess);
  EXPECT_EQ(child.state(), hv::PartitionState::kActive);
}

TEST_F(Dispatcher, InputGpaMustBe8ByteAligned) {
  for (std::uint64_t off : {1, 2, 4, 7}) {
    EXPECT_EQ(call(start_control(), start_input(1), nullptr, 0, kIn + off).result.status(),
              Status::kInvalidAlignment);
  }
  EXPECT_TRUE(backend_.starts.empty());
}

TEST_F(Dispatcher, InputMustNotStraddleAPage) {
  // 240 bytes starting 232 bytes before a page end cross into the next page.
  EXPECT_EQ(call(start_control(), start_input(1), nullptr, 0, kIn + 4096 - 232).result.status(),
            Status::kInvalidAlignment);
  // Exactly fitting at the end of the page is fine.
  EXPECT_EQ(call(start_control(), start_input(1), nullptr, 0, kIn + 4096 - 240).result.status(),
            Status::kSuccess);
}

TEST_F(Dispatcher, InputOutsideGuestRamIsInvalidAlignment) {
  for (std::uint64_t gpa : {std::uint64_t{kRamSize}, std::uint64_t{kRamSize + 4096},
                            std::uint64_t{0xFFFF'FFFF'FFFF'F000ull}, std::uint64_t{1} << 63}) {
    EXPECT_EQ(raw_call(start_control(), gpa, kOut).result.status(), Status::kInvalidAlignment)
        << std::hex << gpa;
  }
}

TEST_F(Dispatcher, InputAndOutputEndingExactlyAtTheEndOfRamAreFine) {
  // Found by the hostile guest: a simple call's input ending at the last byte of RAM was refused,
  // because an empty read of the (absent) rep elements named the first byte past RAM.
  EXPECT_EQ(call(start_control(), start_input(1), nullptr, 0, kRamSize - 240).result.status(),
            Status::kSuccess);
  // A rep call whose header and four elements fill the last 32 bytes, its output the last 16,
  // from the start and continued.
  struct Four {
    tlfs::GetVpIndexFromApicIdHeader header;
    std::uint32_t apic_ids[4];
  };
  const Four q{{tlfs::kPartitionIdSelf, tlfs::InputVtl::current(), {}}, {0, 0, 0, 0}};
  for (std::uint16_t start : {0, 3}) {
    EXPECT_EQ(call(vp_index_control(4, start), q, nullptr, 0, kRamSize - 32, kRamSize - 16)
                  .result.status(),
              Status::kSuccess)
        << start;
  }
}

TEST_F(Dispatcher, RamAroundTheHoleFollowsTheSameGpaRules) {
  // Guest RAM of more than 3 GiB goes on at 4 GiB (machine/loader/layout.h): two regions with
  // the 32-bit hole between them. Here the low region is the fixture's and two pages sit at
  // 4 GiB; each edge of each region, for the input and for the output (conformance A13-A15).
  constexpr std::uint64_t kHigh = 4ull << 30;
  std::vector<std::byte> high(2 * 4096);
  ASSERT_TRUE(memory_.add(kHigh, high));
  const auto q = query({0});
  const auto c = vp_index_control(1);
  auto status = [&](std::uint64_t in, std::uint64_t out) {
    return call(c, q, nullptr, 0, in, out).result.status();
  };
  EXPECT_EQ(status(kRamSize - 4096, kHigh), Status::kSuccess);  // the last low page, the first high
  EXPECT_EQ(status(kHigh, kHigh + 4096), Status::kSuccess);     // both high, the last page too
  EXPECT_EQ(status(kHigh + 4096, kRamSize - 4096), Status::kSuccess);
  EXPECT_EQ(status(kRamSize, kOut), Status::kInvalidAlignment);      // the hole's first page
  EXPECT_EQ(status(kHigh - 4096, kOut), Status::kInvalidAlignment);  // the hole's last page
  EXPECT_EQ(status(kIn, kRamSize), Status::kInvalidAlignment);
  EXPECT_EQ(status(kIn, kHigh - 4096), Status::kInvalidAlignment);
  EXPECT_EQ(status(kHigh + 2 * 4096, kOut), Status::kInvalidAlignment);  // past the high end
  EXPECT_EQ(status(kIn, kHigh + 2 * 4096), Status::kInvalidAlignment);
  // The output the call wrote is in the high page.
  std::array<std::byte, 4> vp{};
  ASSERT_EQ(status(kIn, kHigh + 4096), Status::kSuccess);
  ASSERT_TRUE(memory_.read(kHigh + 4096, vp));
  EXPECT_EQ(tlfs::load<std::uint32_t>(vp), 0u);
}

TEST_F(Dispatcher, OutputGpaIsCheckedLikeTheInput) {
  const auto q = query({1});
  const auto c = vp_index_control(1);
  EXPECT_EQ(call(c, q, nullptr, 0, kIn, kOut + 4).result.status(), Status::kInvalidAlignment);
  EXPECT_EQ(call(c, q, nullptr, 0, kIn, kRamSize).result.status(), Status::kInvalidAlignment);
  EXPECT_EQ(call(c, q, nullptr, 0, kIn, kOut + 4096 - 8).result.status(), Status::kSuccess);
  // Four elements of 4 bytes from 8 bytes before the page end straddle it.
  EXPECT_EQ(call(vp_index_control(4), query({0, 1, 2, 3}), nullptr, 0, kIn, kOut + 4096 - 8)
                .result.status(),
            Status::kInvalidAlignment);
}

TEST_F(Dispatcher, OutputGpaOfACallWithoutOutputIsIgnored) {
  EXPECT_EQ(call(start_control(), start_input(1), nullptr, 0, kIn, 0xFFFF'FFFF'FFFF'FFFFull)
                .result.status(),
            Status::kSuccess);
}

TEST_F(Dispatcher, InputAndOutputMayOverlap) {
  // Same GPA for both: the whole input is read before the output is written.
  const auto o = call(vp_index_control(3), query({3, 1, 2}), nullptr, 0, kIn, kIn);
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  std::array<std::byte, 12> b{};
  memory_.read(kIn, b);
  EXPECT_EQ(tlfs::load<std::uint32_t>(b, 0), 3u);
  EXPECT_EQ(tlfs::load<std::uint32_t>(b, 4), 1u);
  EXPECT_EQ(tlfs::load<std::uint32_t>(b, 8), 2u);
}

TEST_F(Dispatcher, ThirtyTwoBitConvention) {
  // EDX:EAX control, EBX:ECX input GPA, EDI:ESI output GPA, result in EDX:EAX.
  memory_.write(kIn, tlfs::as_bytes(query({2})));
  hv::VpCallState st{ExecMode::kProtected, 0, {}};
  const auto control = vp_index_control(1);
  st.regs.rax = control.raw & 0xFFFF'FFFF;
  st.regs.rdx = control.raw >> 32;
  st.regs.rcx = kIn;
  st.regs.rbx = 0;
  st.regs.rsi = kOut;
  st.regs.rdi = 0;
  const auto o = dispatcher_->dispatch(*root_, *root_->vp(0), st);
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  EXPECT_EQ(st.regs.rax, 0u);  // status SUCCESS in EAX
  EXPECT_EQ(st.regs.rdx, 1u);  // reps completed 1 in EDX (bits 43:32 of the result)
  EXPECT_EQ(out_at<std::uint32_t>(), 2u);
}

TEST_F(Dispatcher, ThirtyTwoBitGpaHighHalvesCount) {
  // EBX holds bits 63:32 of the input GPA: a non-zero EBX puts it outside RAM.
  memory_.write(kIn, tlfs::as_bytes(start_input(1)));
  hv::VpCallState st{ExecMode::kProtected, 0, {}};
  st.regs.rax = start_control().raw;
  st.regs.rcx = kIn;
  st.regs.rbx = 1;
  EXPECT_EQ(dispatcher_->dispatch(*root_, *root_->vp(0), st).result.status(),
            Status::kInvalidAlignment);
}

TEST_F(Dispatcher, SixtyFourBitResultGoesToRax) {
  memory_.write(kIn, tlfs::as_bytes(query({1, 9})));
  hv::VpCallState st{ExecMode::k64Bit, 0, {}};
  st.regs.rcx = vp_index_control(2).raw;
  st.regs.rdx = kIn;
  st.regs.r8 = kOut;
  dispatcher_->dispatch(*root_, *root_->vp(0), st);
  EXPECT_EQ(st.regs.rax, tlfs::HypercallResult::make(Status::kInvalidParameter, 1).raw);
  EXPECT_EQ(st.regs.rcx, vp_index_control(2).raw);  // untouched when complete
}

class RepContinuation : public Engine {
 protected:
  void SetUp() override {
    options_.max_reps_per_entry = 2;
    make_root(root_config(8));
  }
};

TEST_F(RepContinuation, ReturnsEarlyWithTheNewStartAndFinishesOnReentry) {
  memory_.write(kIn, tlfs::as_bytes(query({7, 6, 5, 4, 3})));
  hv::VpCallState st{ExecMode::k64Bit, 0, {}};
  st.regs.rcx = vp_index_control(5).raw;
  st.regs.rdx = kIn;
  st.regs.r8 = kOut;
  st.regs.rax = 0x1234;
  std::vector<std::uint16_t> starts;
  hv::Outcome o;
  do {
    starts.push_back(HypercallControl{st.regs.rcx}.rep_start());
    o = dispatcher_->dispatch(*root_, *root_->vp(0), st);
  } while (o.action == Action::kRetry);
  EXPECT_EQ(starts, (std::vector<std::uint16_t>{0, 2, 4}));
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  EXPECT_EQ(o.result.reps_completed(), 5);
  for (std::uint32_t i = 0; i < 5; ++i) EXPECT_EQ(out_at<std::uint32_t>(4 * i), 7 - i);
}

TEST_F(RepContinuation, RetryLeavesRaxAloneAndRewritesOnlyTheRepStart) {
  memory_.write(kIn, tlfs::as_bytes(query({1, 2, 3})));
  hv::VpCallState st{ExecMode::k64Bit, 0, {}};
  st.regs.rcx = vp_index_control(3).raw;
  st.regs.rdx = kIn;
  st.regs.r8 = kOut;
  st.regs.rax = 0x1234;
  EXPECT_EQ(dispatcher_->dispatch(*root_, *root_->vp(0), st).action, Action::kRetry);
  EXPECT_EQ(st.regs.rax, 0x1234u);
  EXPECT_EQ(st.regs.rcx, vp_index_control(3, 2).raw);
}

TEST_F(RepContinuation, ThirtyTwoBitRetryWritesTheControlIntoEdxEax) {
  memory_.write(kIn, tlfs::as_bytes(query({1, 2, 3})));
  hv::VpCallState st{ExecMode::kProtected, 0, {}};
  const auto c = vp_index_control(3);
  st.regs.rax = c.raw & 0xFFFF'FFFF;
  st.regs.rdx = c.raw >> 32;
  st.regs.rcx = kIn;
  st.regs.rsi = kOut;
  EXPECT_EQ(dispatcher_->dispatch(*root_, *root_->vp(0), st).action, Action::kRetry);
  EXPECT_EQ((st.regs.rdx << 32) | st.regs.rax, vp_index_control(3, 2).raw);
}

TEST_F(RepContinuation, AnErrorInALaterBatchReportsAbsoluteRepsCompleted) {
  memory_.write(kIn, tlfs::as_bytes(query({1, 2, 3, 99, 4})));
  hv::VpCallState st{ExecMode::k64Bit, 0, {}};
  st.regs.rcx = vp_index_control(5).raw;
  st.regs.rdx = kIn;
  st.regs.r8 = kOut;
  hv::Outcome o;
  do o = dispatcher_->dispatch(*root_, *root_->vp(0), st);
  while (o.action == Action::kRetry);
  EXPECT_EQ(o.result.status(), Status::kInvalidParameter);
  EXPECT_EQ(o.result.reps_completed(), 3);
}

TEST_F(Dispatcher, ARefusedContinuationReportsItsRepStartAsCompleted) {
  // Re-entered at rep start 2 with an output GPA that is no longer valid.
  const auto o = call(vp_index_control(3, 2), query({1, 2, 3}), nullptr, 0, kIn, kRamSize);
  EXPECT_EQ(o.result.status(), Status::kInvalidAlignment);
  EXPECT_EQ(o.result.reps_completed(), 2);
  // A control word refused for its shape reports none.
  EXPECT_EQ(status_of(vp_index_control(2, 2), query({1, 2})), Status::kInvalidHypercallInput);
  EXPECT_EQ(call(vp_index_control(2, 2), query({1, 2})).result.reps_completed(), 0);
}

TEST_F(Dispatcher, PaddingBytesInInputsAreIgnored) {
  auto in = start_input(1);
  in.pad[0] = in.pad[1] = in.pad[2] = 0xAA;
  EXPECT_EQ(start(in), Status::kSuccess);
  auto q = query({2});
  for (auto& b : q.header.reserved) b = 0xFF;
  EXPECT_EQ(status_of(vp_index_control(1), q), Status::kSuccess);
}

class CountingTrace final : public hv::TraceSink {
 public:
  void on_call(const hv::TraceRecord& r) noexcept override {
    ++calls;
    last_text = r.input_text;
    last_status = r.outcome.result.status();
  }
  int calls = 0;
  std::string last_text;
  Status last_status{};
};

TEST_F(Dispatcher, TraceSeesDecodedInputAndStatus) {
  CountingTrace trace;
  dispatcher_->set_trace(&trace);
  EXPECT_EQ(start(start_input(2)), Status::kSuccess);
  EXPECT_EQ(trace.calls, 1);
  EXPECT_NE(trace.last_text.find("vp=0x2"), std::string::npos) << trace.last_text;
  EXPECT_NE(trace.last_text.find("cs=0x10/0xa09b"), std::string::npos) << trace.last_text;
  EXPECT_EQ(trace.last_status, Status::kSuccess);
}

}  // namespace
}  // namespace hvk::test
