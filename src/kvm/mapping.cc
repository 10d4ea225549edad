#include "kvm/mapping.h"

#include <sys/mman.h>
#include <unistd.h>

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

Result<SharedMemory> SharedMemory::create(std::size_t size, const char* name) {
  Fd fd(::memfd_create(name, MFD_CLOEXEC));
  if (!fd) return Error::from_errno("memfd_create");
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) return Error::from_errno("ftruncate");
  return SharedMemory(std::move(fd), size);
}

Result<Mapping> SharedMemory::map() const {
  return Mapping::map(size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd_.get(), 0,
                      "mmap guest RAM");
}

void Mapping::reset() noexcept {
  if (addr_ != nullptr) ::munmap(addr_, size_);
  addr_ = nullptr;
  size_ = 0;
}

}  // namespace hvk::kvm
