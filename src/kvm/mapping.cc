#include "kvm/mapping.h"

#include <sys/mman.h>

namespace hvk::kvm {

Mapping& Mapping::operator=(Mapping&& other) noexcept {
  if (this != &other) {
    reset();
    addr_ = other.addr_;
    size_ = other.size_;
    other.addr_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

Result<Mapping> Mapping::map(std::size_t size, int prot, int flags, int fd, off_t offset,
                             const char* what) {
  void* addr = ::mmap(nullptr, size, prot, flags, fd, offset);
  if (addr == MAP_FAILED) return Error::from_errno(what);
  return Mapping(addr, size);
}

Result<Mapping> Mapping::anonymous(std::size_t size) {
  return map(size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0,
             "mmap anonymous");
}

Result<SharedMemory> SharedMemory::create(std::size_t size) {
  auto m = Mapping::map(size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE,
                        -1, 0, "mmap guest RAM");
  if (!m) return m.error();
  return SharedMemory(std::move(*m));
}

Result<Mapping> SharedMemory::map() const {
  // mremap of a shared mapping with old size 0 maps the same pages once more.
  void* addr = ::mremap(first_.data(), 0, first_.size(), MREMAP_MAYMOVE);
  if (addr == MAP_FAILED) return Error::from_errno("mremap guest RAM view");
  return Mapping(addr, first_.size());
}

void Mapping::reset() noexcept {
  if (addr_ != nullptr) ::munmap(addr_, size_);
  addr_ = nullptr;
  size_ = 0;
}

}  // namespace hvk::kvm
