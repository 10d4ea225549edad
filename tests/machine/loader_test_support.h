// Test helpers for the loader: hand-built ELF64 and ELF32 images, Multiboot headers, and guest RAM
// with guard zones.
#pragma once

#include <elf.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace hvk::machine::test {

inline std::vector<std::byte> bytes_of(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

inline std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>((i * 131 + seed) & 0xff);
  return out;
}

// Builds an ELF64 x86-64 ET_EXEC file: header, program header table right after it, then each
// segment's file bytes (16-byte aligned). Fields can be patched afterwards with the accessors.
class ElfBuilder {
 public:
  ElfBuilder() {
    std::memset(&eh_, 0, sizeof(eh_));
    std::memcpy(eh_.e_ident, ELFMAG, SELFMAG);
    eh_.e_ident[EI_CLASS] = ELFCLASS64;
    eh_.e_ident[EI_DATA] = ELFDATA2LSB;
    eh_.e_ident[EI_VERSION] = EV_CURRENT;
    eh_.e_type = ET_EXEC;
    eh_.e_machine = EM_X86_64;
    eh_.e_version = EV_CURRENT;
    eh_.e_ehsize = sizeof(Elf64_Ehdr);
    eh_.e_phentsize = sizeof(Elf64_Phdr);
  }

  ElfBuilder& entry(std::uint64_t e) {
    eh_.e_entry = e;
    return *this;
  }

  // A segment with `data` as its file bytes, occupying `memsz` bytes at `paddr` (vaddr may differ,
  // like a vmlinux's high-half virtual addresses).
  ElfBuilder& segment(std::uint64_t paddr, std::vector<std::byte> data, std::uint64_t memsz,
                      std::uint32_t type = PT_LOAD, std::uint32_t flags = PF_R | PF_X,
                      std::uint64_t vaddr = 0) {
    Elf64_Phdr ph;
    std::memset(&ph, 0, sizeof(ph));
    ph.p_type = type;
    ph.p_flags = flags;
    ph.p_paddr = paddr;
    ph.p_vaddr = vaddr ? vaddr : paddr;
    ph.p_filesz = data.size();
    ph.p_memsz = memsz;
    ph.p_align = 0x1000;
    phdrs_.push_back(ph);
    payloads_.push_back(std::move(data));
    return *this;
  }

  std::vector<std::byte> build() const {
    Elf64_Ehdr eh = eh_;
    eh.e_phoff = phdrs_.empty() ? 0 : sizeof(Elf64_Ehdr);
    eh.e_phnum = static_cast<Elf64_Half>(phdrs_.size());
    std::size_t offset = sizeof(Elf64_Ehdr) + phdrs_.size() * sizeof(Elf64_Phdr);
    std::vector<Elf64_Phdr> phdrs = phdrs_;
    for (std::size_t i = 0; i < phdrs.size(); ++i) {
      offset = (offset + 15) & ~std::size_t{15};
      phdrs[i].p_offset = offset;
      offset += payloads_[i].size();
    }
    std::vector<std::byte> out(offset);
    std::memcpy(out.data(), &eh, sizeof(eh));
    for (std::size_t i = 0; i < phdrs.size(); ++i) {
      std::memcpy(out.data() + sizeof(eh) + i * sizeof(Elf64_Phdr), &phdrs[i], sizeof(Elf64_Phdr));
      std::copy(payloads_[i].begin(), payloads_[i].end(),
                out.begin() + static_cast<std::ptrdiff_t>(phdrs[i].p_offset));
    }
    return out;
  }

 private:
  Elf64_Ehdr eh_;
  std::vector<Elf64_Phdr> phdrs_;
  std::vector<std::vector<std::byte>> payloads_;
};

// The same for an ELF32 i386 ET_EXEC file (a Multiboot kernel).
class Elf32Builder {
 public:
  Elf32Builder() {
    std::memset(&eh_, 0, sizeof(eh_));
    std::memcpy(eh_.e_ident, ELFMAG, SELFMAG);
    eh_.e_ident[EI_CLASS] = ELFCLASS32;
    eh_.e_ident[EI_DATA] = ELFDATA2LSB;
    eh_.e_ident[EI_VERSION] = EV_CURRENT;
    eh_.e_type = ET_EXEC;
    eh_.e_machine = EM_386;
    eh_.e_version = EV_CURRENT;
    eh_.e_ehsize = sizeof(Elf32_Ehdr);
    eh_.e_phentsize = sizeof(Elf32_Phdr);
  }

  Elf32Builder& entry(std::uint32_t e) {
    eh_.e_entry = e;
    return *this;
  }

  Elf32Builder& segment(std::uint32_t paddr, std::vector<std::byte> data, std::uint32_t memsz,
                        std::uint32_t type = PT_LOAD, std::uint32_t flags = PF_R | PF_X,
                        std::uint32_t vaddr = 0) {
    Elf32_Phdr ph;
    std::memset(&ph, 0, sizeof(ph));
    ph.p_type = type;
    ph.p_flags = flags;
    ph.p_paddr = paddr;
    ph.p_vaddr = vaddr ? vaddr : paddr;
    ph.p_filesz = static_cast<std::uint32_t>(data.size());
    ph.p_memsz = memsz;
    ph.p_align = 0x1000;
    phdrs_.push_back(ph);
    payloads_.push_back(std::move(data));
    return *this;
  }

  // Segment i's file offset in the built file.
  std::size_t offset_of(std::size_t i) const { return layout()[i]; }

  std::vector<std::byte> build() const {
    Elf32_Ehdr eh = eh_;
    eh.e_phoff = phdrs_.empty() ? 0 : sizeof(Elf32_Ehdr);
    eh.e_phnum = static_cast<Elf32_Half>(phdrs_.size());
    const std::vector<std::size_t> offsets = layout();
    std::vector<Elf32_Phdr> phdrs = phdrs_;
    std::size_t end = sizeof(Elf32_Ehdr) + phdrs_.size() * sizeof(Elf32_Phdr);
    for (std::size_t i = 0; i < phdrs.size(); ++i) {
      phdrs[i].p_offset = static_cast<std::uint32_t>(offsets[i]);
      end = offsets[i] + payloads_[i].size();
    }
    std::vector<std::byte> out(end);
    std::memcpy(out.data(), &eh, sizeof(eh));
    for (std::size_t i = 0; i < phdrs.size(); ++i) {
      std::memcpy(out.data() + sizeof(eh) + i * sizeof(Elf32_Phdr), &phdrs[i], sizeof(Elf32_Phdr));
      std::copy(payloads_[i].begin(), payloads_[i].end(),
                out.begin() + static_cast<std::ptrdiff_t>(offsets[i]));
    }
    return out;
  }

 private:
  // Segment bytes follow the program headers, each 16-byte aligned.
  std::vector<std::size_t> layout() const {
    std::vector<std::size_t> offsets;
    std::size_t offset = sizeof(Elf32_Ehdr) + phdrs_.size() * sizeof(Elf32_Phdr);
    for (const auto& p : payloads_) {
      offset = (offset + 15) & ~std::size_t{15};
      offsets.push_back(offset);
      offset += p.size();
    }
    return offsets;
  }

  Elf32_Ehdr eh_;
  std::vector<Elf32_Phdr> phdrs_;
  std::vector<std::vector<std::byte>> payloads_;
};

inline void put_u32(std::vector<std::byte>& bytes, std::size_t offset, std::uint32_t v) {
  if (bytes.size() < offset + 4) bytes.resize(offset + 4);
  std::memcpy(bytes.data() + offset, &v, sizeof v);
}

inline std::uint32_t get_u32(std::span<const std::byte> bytes, std::size_t offset) {
  std::uint32_t v;
  std::memcpy(&v, bytes.data() + offset, sizeof v);
  return v;
}

// A Multiboot header: magic, flags, the checksum that makes them sum to 0, then `extra` words
// (the a.out kludge's five addresses when flags bit 16 is set).
inline std::vector<std::byte> multiboot_header(std::uint32_t flags,
                                               std::initializer_list<std::uint32_t> extra = {}) {
  constexpr std::uint32_t kMagic = 0x1BADB002;
  std::vector<std::byte> out;
  put_u32(out, 0, kMagic);
  put_u32(out, 4, flags);
  put_u32(out, 8, 0u - kMagic - flags);
  std::size_t at = 12;
  for (std::uint32_t w : extra) {
    put_u32(out, at, w);
    at += 4;
  }
  return out;
}

// Copies `what` into `bytes` at `offset` (growing it if needed).
inline void place(std::vector<std::byte>& bytes, std::size_t offset,
                  const std::vector<std::byte>& what) {
  if (bytes.size() < offset + what.size()) bytes.resize(offset + what.size());
  std::copy(what.begin(), what.end(), bytes.begin() + static_cast<std::ptrdiff_t>(offset));
}

inline Elf64_Ehdr get_ehdr(const std::vector<std::byte>& file) {
  Elf64_Ehdr eh;
  std::memcpy(&eh, file.data(), sizeof(eh));
  return eh;
}
inline void set_ehdr(std::vector<std::byte>& file, const Elf64_Ehdr& eh) {
  std::memcpy(file.data(), &eh, sizeof(eh));
}
inline Elf64_Phdr get_phdr(const std::vector<std::byte>& file, std::size_t i) {
  Elf64_Phdr ph;
  std::memcpy(&ph, file.data() + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr), sizeof(ph));
  return ph;
}
inline void set_phdr(std::vector<std::byte>& file, std::size_t i, const Elf64_Phdr& ph) {
  std::memcpy(file.data() + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr), &ph, sizeof(ph));
}

// Guest RAM inside a larger heap buffer whose guard zones (before and after) are checked after
// every operation; RAM itself starts out filled with `fill` so writes are visible.
class GuardedRam {
 public:
  static constexpr std::size_t kGuard = 64 * 1024;
  static constexpr std::ptrdiff_t kGuardOffset = kGuard;
  static constexpr std::byte kGuardByte{0xa5};

  static constexpr std::size_t kMaxSize = std::size_t{1} << 32;

  explicit GuardedRam(std::size_t size, std::byte fill = std::byte{0xcc})
      : buf_(std::min(size, kMaxSize) + 2 * kGuard, kGuardByte), size_(std::min(size, kMaxSize)) {
    std::fill_n(buf_.begin() + kGuardOffset, size_, fill);
  }

  std::span<std::byte> span() { return {buf_.data() + kGuard, size_}; }
  std::span<const std::byte> span() const { return {buf_.data() + kGuard, size_}; }
  std::vector<std::byte> snapshot() const { return {span().begin(), span().end()}; }

  bool guards_intact() const {
    auto is_guard = [](std::byte b) { return b == kGuardByte; };
    return std::all_of(buf_.begin(), buf_.begin() + kGuardOffset, is_guard) &&
           std::all_of(buf_.end() - kGuardOffset, buf_.end(), is_guard);
  }

  template <typename T>
  T load(std::uint64_t gpa) const {
    T v;
    std::memcpy(&v, buf_.data() + kGuard + gpa, sizeof(T));
    return v;
  }

 private:
  std::vector<std::byte> buf_;
  std::size_t size_;
};

}  // namespace hvk::machine::test
