// The SynIC from a guest: guest/synic.h.
#include "guest/synic.h"

#include "guest/guest.h"

namespace guest {

namespace {

constexpr std::uint16_t kTestdevPort = 0x3000;
constexpr std::uint32_t kTestdevMessageConnectionCreate = 4;
constexpr std::uint32_t kTestdevEventConnectionCreate = 6;

volatile ReferenceTscPage* g_reference_page = nullptr;

void outl(std::uint16_t port, std::uint32_t v) {
  asm volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

void testdev(std::uint32_t command, std::uint8_t id, std::uint32_t vp, unsigned sint) {
  outl(kTestdevPort, (std::uint32_t{id} << 24) | (command << 16) | ((vp & 0xFF) << 8) | sint);
}

std::uint64_t gpa(const volatile void* p) {
  return reinterpret_cast<std::uint64_t>(p);  // identity-mapped
}

std::uint64_t read_tsc() {
  std::uint32_t lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi)::"memory");
  return (std::uint64_t{hi} << 32) | lo;
}

}  // namespace

void synic_enable(tlfs::MessagePage* sim, tlfs::EventFlagsPage* sief) {
  memset(sim, 0, sizeof *sim);
  memset(sief, 0, sizeof *sief);
  wrmsr(kMsrSimp, gpa(sim) | tlfs::kSynicEnable);
  wrmsr(kMsrSiefp, gpa(sief) | tlfs::kSynicEnable);
  wrmsr(kMsrScontrol, tlfs::kSynicEnable);
}

void sint_set(unsigned sint, std::uint8_t vector, bool auto_eoi) {
  wrmsr(kMsrSint0 + sint, std::uint64_t{vector} | (auto_eoi ? tlfs::SintRegister::kAutoEoi : 0));
}

std::uint32_t take_message(tlfs::MessagePage* sim, unsigned sint, bool* eom) {
  // The first qword holds the type (bits 31:0) and the flags (47:40): clearing the type and
  // reading the flags in one locked operation orders them as the TLFS asks.
  auto* word = reinterpret_cast<std::uint64_t*>(&sim->slots[sint].header);
  const std::uint64_t old = __atomic_fetch_and(word, ~std::uint64_t{0xFFFF'FFFF}, __ATOMIC_SEQ_CST);
  const bool pending = (tlfs::header_word_flags(old) & tlfs::kMessagePending) != 0;
  if (pending) wrmsr(kMsrEom, 0);
  if (eom != nullptr) *eom = pending;
  return tlfs::header_word_type(old);
}

bool take_event_flag(tlfs::EventFlagsPage* sief, unsigned sint, unsigned flag) {
  std::uint8_t* byte = &sief->sints[sint].bits[flag / 8];
  const auto mask = static_cast<std::uint8_t>(1u << (flag % 8));
  return (__atomic_fetch_and(byte, static_cast<std::uint8_t>(~mask), __ATOMIC_SEQ_CST) & mask) != 0;
}

void testdev_message_connection(std::uint8_t id, std::uint32_t vp, unsigned sint) {
  testdev(kTestdevMessageConnectionCreate, id, vp, sint);
}

void testdev_event_connection(std::uint8_t id, std::uint32_t vp, unsigned sint) {
  testdev(kTestdevEventConnectionCreate, id, vp, sint);
}

void reference_clock_init(ReferenceTscPage* page) {
  g_reference_page = page;
  wrmsr(kMsrReferenceTsc, gpa(page) | 1);
}

bool reference_page_valid() {
  return g_reference_page != nullptr && g_reference_page->sequence != 0;
}

std::uint64_t reference_time() {
  volatile ReferenceTscPage* page = g_reference_page;
  while (page != nullptr) {
    const std::uint32_t sequence = page->sequence;
    if (sequence == 0) break;
    barrier();
    const std::uint64_t tsc = read_tsc();
    const std::uint64_t scale = page->scale;
    const std::int64_t offset = page->offset;
    barrier();
    if (page->sequence != sequence) continue;  // updated meanwhile: read it again
    const auto scaled =
        static_cast<std::uint64_t>((static_cast<unsigned __int128>(tsc) * scale) >> 64);
    return scaled + static_cast<std::uint64_t>(offset);
  }
  return rdmsr(kMsrTimeRefCount);
}

}  // namespace guest
