// A lower VTL's view of guest RAM under its protections (machine/vtl/protected_ram.h), against the
// real /dev/kvm where it opens: the memslots a layout takes, the view's page protections (probed
// with process_vm_readv/writev, which fail with EFAULT where a page refuses the access), holes,
// and a layout KVM has too few slots for.
#include "machine/vtl/protected_ram.h"

#include <gtest/gtest.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "kvm/kvm.h"
#include "kvm/mapping.h"
#include "machine/vtl/vtl_vm.h"

namespace hvk::machine {
namespace {

using Kind = ProtectedRam::Kind;
constexpr std::uint64_t kPages = 64;
constexpr std::uint64_t kSize = kPages << ProtectedRam::kPageShift;

// Whether this process may read / write a byte at `p` (process_vm_readv/writev on itself fail
// with EFAULT where the page does not allow it, instead of a signal).
bool readable(const std::byte* p) {
  std::byte b{};
  iovec local{&b, 1};
  iovec remote{const_cast<std::byte*>(p), 1};
  return ::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0) == 1;
}
bool writable(std::byte* p) {
  std::byte b{};
  iovec local{&b, 1};
  iovec remote{p, 1};
  // Reads the byte first so that the write puts back what was there.
  if (::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0) != 1) return false;
  return ::process_vm_writev(::getpid(), &local, 1, &remote, 1, 0) == 1;
}

class ProtectedRamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kvm = kvm::Kvm::open();
    if (!kvm) GTEST_SKIP() << "no KVM: " << kvm.error().message();
    kvm_.emplace(std::move(*kvm));
    auto memory = kvm::SharedMemory::create(kSize);
    ASSERT_TRUE(memory) << memory.error().message();
    auto own = memory->map();
    ASSERT_TRUE(own);
    auto view = memory->map();
    ASSERT_TRUE(view);
    memory_.emplace(std::move(*memory));
    own_.emplace(std::move(*own));
    view_.emplace(std::move(*view));
    auto vm = create_guest_vm(*kvm_, *view_);
    ASSERT_TRUE(vm) << vm.error().message();
    vm_.emplace(std::move(*vm));
  }
  ProtectedRam make(std::uint32_t max_slots = 16) {
    return ProtectedRam(*vm_, view_->bytes(), kSize, max_slots);
  }
  std::byte* page(std::uint64_t n) { return view_->bytes() + (n << ProtectedRam::kPageShift); }

  std::optional<kvm::Kvm> kvm_;
  std::optional<kvm::SharedMemory> memory_;
  std::optional<kvm::Mapping> own_;
  std::optional<kvm::Mapping> view_;
  std::optional<kvm::Vm> vm_;
};

TEST_F(ProtectedRamTest, ViewsShareTheirPages) {
  std::memcpy(own_->bytes() + 100, "vtl", 3);
  EXPECT_EQ(std::memcmp(view_->bytes() + 100, "vtl", 3), 0);
}

TEST_F(ProtectedRamTest, OnlyHolesCostMemslots) {
  ProtectedRam ram = make();
  auto r = ram.apply(Kind::kReadWrite, {{3, Kind::kReadOnly}, {4, Kind::kNoAccess}});
  ASSERT_TRUE(r && *r);
  EXPECT_EQ(ram.slots_in_use(), 1u);
  r = ram.apply(Kind::kReadWrite, {{5, Kind::kUnmapped}, {6, Kind::kUnmapped}});
  ASSERT_TRUE(r && *r);
  EXPECT_EQ(ram.slots_in_use(), 2u);  // [0, 5) and [7, 64)
  r = ram.apply(Kind::kReadWrite, {{5, Kind::kUnmapped}, {7, Kind::kUnmapped}, {63, Kind::kUnmapped}});
  ASSERT_TRUE(r && *r);
  EXPECT_EQ(ram.slots_in_use(), 3u);  // [0, 5), [6, 7), [8, 63)
  EXPECT_EQ(ram.kind(7), Kind::kUnmapped);
  EXPECT_EQ(ram.kind(8), Kind::kReadWrite);
}

TEST_F(ProtectedRamTest, TheViewIsProtectedPageByPageAndPutBack) {
  ProtectedRam ram = make();
  auto r = ram.apply(Kind::kReadWrite, {{3, Kind::kReadOnly}, {4, Kind::kNoAccess}});
  ASSERT_TRUE(r && *r);
  EXPECT_TRUE(readable(page(3)));
  EXPECT_FALSE(writable(page(3)));
  EXPECT_FALSE(readable(page(4)));
  EXPECT_TRUE(writable(page(5)));
  // hvk's own view is never protected.
  EXPECT_TRUE(writable(own_->bytes() + (4u << ProtectedRam::kPageShift)));
  r = ram.apply(Kind::kReadWrite, {});
  ASSERT_TRUE(r && *r);
  EXPECT_TRUE(writable(page(3)));
  EXPECT_TRUE(writable(page(4)));
}

TEST_F(ProtectedRamTest, ABaseKindCoversEveryOtherPage) {
  ProtectedRam ram = make();
  auto r = ram.apply(Kind::kReadOnly, {{10, Kind::kReadWrite}});
  ASSERT_TRUE(r && *r);
  EXPECT_FALSE(writable(page(0)));
  EXPECT_FALSE(writable(page(63)));
  EXPECT_TRUE(writable(page(10)));
  EXPECT_EQ(ram.kind(11), Kind::kReadOnly);
  r = ram.apply(Kind::kReadWrite, {});
  ASSERT_TRUE(r && *r);
  EXPECT_TRUE(writable(page(0)));
}

TEST_F(ProtectedRamTest, ALayoutNeedingTooManySlotsChangesNothing) {
  ProtectedRam ram = make(2);
  auto r = ram.apply(Kind::kReadWrite, {{5, Kind::kNoAccess}});
  ASSERT_TRUE(r && *r);
  r = ram.apply(Kind::kReadWrite, {{5, Kind::kUnmapped}, {7, Kind::kUnmapped}});
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
  EXPECT_EQ(ram.kind(5), Kind::kNoAccess);  // the old layout stands
  EXPECT_FALSE(readable(page(5)));
  EXPECT_EQ(ram.slots_in_use(), 1u);
}

TEST_F(ProtectedRamTest, AHoleComesAndGoesWithoutChangingTheMask) {
  ProtectedRam ram = make();
  auto r = ram.apply(Kind::kReadWrite, {{9, Kind::kNoAccess}});
  ASSERT_TRUE(r && *r);
  r = ram.open_hole(9);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ(ram.kind(9), Kind::kUnmapped);
  EXPECT_EQ(ram.slots_in_use(), 2u);
  r = ram.close_hole(9);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ(ram.kind(9), Kind::kNoAccess);
  EXPECT_EQ(ram.slots_in_use(), 1u);
}

}  // namespace
}  // namespace hvk::machine

namespace hvk::machine {
namespace {

// RAM split around the 32-bit hole (loader/layout.h): the view's first half at GPA 0, its second
// half at 4 GiB. Page numbers given to ProtectedRam are guest-physical; the view has no gap.
class SplitProtectedRamTest : public ProtectedRamTest {
 protected:
  static constexpr std::uint64_t kLowPages = kPages / 2;
  static constexpr std::uint64_t kHigh = (4ull << 30) >> ProtectedRam::kPageShift;  // GPA page
  void SetUp() override {
    ProtectedRamTest::SetUp();
    if (IsSkipped()) return;
    vm_.reset();
    auto vm = create_guest_vm(*kvm_, *view_, kLowPages << ProtectedRam::kPageShift);
    ASSERT_TRUE(vm) << vm.error().message();
    vm_.emplace(std::move(*vm));
  }
  ProtectedRam make_split(std::uint32_t max_slots = 16) {
    return ProtectedRam(*vm_, view_->bytes(), kSize, max_slots,
                        kLowPages << ProtectedRam::kPageShift);
  }
};

TEST_F(SplitProtectedRamTest, EachSideOfTheHoleIsItsOwnMemslot) {
  ProtectedRam ram = make_split();
  EXPECT_EQ(ram.slots_in_use(), 2u);
  // Out of the map: the last page below the hole and the first above it. KVM refuses a memslot
  // that overlaps another, so the new layout going in proves the GPAs are apart.
  auto r = ram.apply(
      Kind::kReadWrite,
      {{kLowPages - 1, Kind::kUnmapped}, {kHigh, Kind::kUnmapped}, {kHigh + 5, Kind::kReadOnly}});
  ASSERT_TRUE(r && *r) << (r ? "too many slots" : r.error().message());
  EXPECT_EQ(ram.slots_in_use(),
            2u);  // [0, 31) and [4 GiB + 1 page, end): the hole splits nothing more
  EXPECT_EQ(ram.kind(kLowPages - 1), Kind::kUnmapped);
  EXPECT_EQ(ram.kind(kHigh), Kind::kUnmapped);
  EXPECT_EQ(ram.kind(kHigh + 5), Kind::kReadOnly);
  EXPECT_EQ(ram.kind(kLowPages), Kind::kUnmapped);  // in the hole: not RAM
  EXPECT_EQ(ram.kind(0), Kind::kReadWrite);
  // The protection is on the view page behind 4 GiB + 5 pages: the view's page kLowPages + 5.
  EXPECT_FALSE(writable(page(kLowPages + 5)));
  EXPECT_TRUE(readable(page(kLowPages + 5)));
  EXPECT_TRUE(writable(page(5)));
  // Back to all mapped: two slots again.
  r = ram.apply(Kind::kReadWrite, {});
  ASSERT_TRUE(r && *r);
  EXPECT_EQ(ram.slots_in_use(), 2u);
  EXPECT_TRUE(writable(page(kLowPages + 5)));
}

TEST_F(SplitProtectedRamTest, AHoleAboveFourGiB) {
  ProtectedRam ram = make_split();
  auto r = ram.open_hole(kHigh + 7);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ(ram.kind(kHigh + 7), Kind::kUnmapped);
  EXPECT_EQ(ram.slots_in_use(), 3u);  // low, high below the hole page, high above it
  r = ram.close_hole(kHigh + 7);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ(ram.slots_in_use(), 2u);
  EXPECT_FALSE(*ram.open_hole(kLowPages + 3));  // in the 32-bit hole: no RAM to open
}

}  // namespace
}  // namespace hvk::machine
