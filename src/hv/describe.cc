// Formatting decoded inputs for --trace, into caller-provided buffers (no allocation).
#include <fmt/format.h>

#include "hv/calls.h"

namespace hvk::hv {

namespace {

template <typename... Args>
std::size_t put(char* buf, std::size_t n, fmt::format_string<Args...> f, Args&&... args) {
  if (n == 0) return 0;
  const auto r = fmt::format_to_n(buf, n - 1, f, std::forward<Args>(args)...);
  const std::size_t len = r.size < n - 1 ? r.size : n - 1;
  buf[len] = '\0';
  return len;
}

}  // namespace

std::size_t describe_start_vp(const tlfs::StartVirtualProcessorInput& in, char* buf,
                              std::size_t n) {
  const tlfs::InitialVpContext& c = in.vp_context;
  return put(buf, n,
             "partition={:#x} vp={:#x} vtl={} rip={:#x} rsp={:#x} rflags={:#x} cs={:#x}/{:#06x} "
             "cr0={:#x} cr3={:#x} cr4={:#x} efer={:#x}",
             in.partition_id, in.vp_index, in.target_vtl, c.rip, c.rsp, c.rflags, c.cs.selector,
             c.cs.attributes, c.cr0, c.cr3, c.cr4, c.efer);
}

std::size_t describe_vp_index(const tlfs::GetVpIndexFromApicIdHeader& h,
                              RepInput<tlfs::ApicIdElement> ids, char* buf, std::size_t n) {
  return put(buf, n, "partition={:#x} vtl={:#04x} apic_ids={}{}", h.partition_id, h.target_vtl.raw,
             ids.size() > 0 ? ids[0] : 0u, ids.size() > 1 ? ",..." : "");
}

std::size_t describe_translate(const tlfs::TranslateVirtualAddressInput& in, char* buf,
                               std::size_t n) {
  return put(buf, n, "partition={:#x} vp={:#x} flags={:#x} gva_page={:#x}", in.partition_id,
             in.vp_index, in.control_flags, in.gva_page);
}

std::size_t describe_send_ipi(const tlfs::SendSyntheticClusterIpiInput& in, char* buf,
                              std::size_t n) {
  return put(buf, n, "vector={:#x} vtl={:#04x} mask={:#x}", in.vector, in.target_vtl.raw,
             in.processor_mask);
}

std::size_t describe_flush(const tlfs::FlushVirtualAddressInput& in, char* buf, std::size_t n) {
  return put(buf, n, "space={:#x} flags={:#x} mask={:#x}", in.address_space, in.flags,
             in.processor_mask);
}

std::size_t describe_flush_list(const tlfs::FlushVirtualAddressInput& in,
                                RepInput<tlfs::GvaRange> ranges, char* buf, std::size_t n) {
  return put(buf, n, "space={:#x} flags={:#x} mask={:#x} ranges={}", in.address_space, in.flags,
             in.processor_mask, ranges.size());
}

std::size_t describe_modify_vtl_protection(const tlfs::ModifyVtlProtectionMaskHeader& h,
                                           RepInput<tlfs::GpaPageNumber> pages, char* buf,
                                           std::size_t n) {
  if (pages.size() == 0) {
    return put(buf, n, "partition={:#x} vtl={:#04x} flags={:#x} pages=0", h.partition_id,
               h.target_vtl.raw, h.map_flags);
  }
  return put(buf, n, "partition={:#x} vtl={:#04x} flags={:#x} pages={} first={:#x}",
             h.partition_id, h.target_vtl.raw, h.map_flags, pages.size(), pages[0].page);
}

namespace {
// An HV_VP_SET as the trace shows it: the format, the valid-bank mask, the first bank words. In
// a memory_buffer's inline storage (at most about 140 of its 500 bytes): no allocation.
class VpSetText {
 public:
  VpSetText(const tlfs::VpSetHeader& h, VarHeader banks) {
    auto out = std::back_inserter(buf_);
    fmt::format_to(out, "set=(format={} banks={:#x}", h.format, h.valid_bank_mask);
    for (std::size_t i = 0; i < banks.size() && i < 4; ++i) fmt::format_to(out, " {:#x}", banks[i]);
    fmt::format_to(out, "{})", banks.size() > 4 ? " ..." : "");
  }
  fmt::string_view view() const { return {buf_.data(), buf_.size()}; }

 private:
  fmt::memory_buffer buf_;
};
}  // namespace

std::size_t describe_send_ipi_ex(const tlfs::SendSyntheticClusterIpiExInput& in, VarHeader banks,
                                 char* buf, std::size_t n) {
  return put(buf, n, "vector={:#x} vtl={:#04x} {}", in.vector, in.target_vtl.raw,
             VpSetText(in.processors, banks).view());
}

std::size_t describe_flush_ex(const tlfs::FlushVirtualAddressExInput& in, VarHeader banks,
                              char* buf, std::size_t n) {
  return put(buf, n, "space={:#x} flags={:#x} {}", in.address_space, in.flags,
             VpSetText(in.processors, banks).view());
}

std::size_t describe_flush_list_ex(const tlfs::FlushVirtualAddressExInput& in, VarHeader banks,
                                   RepInput<tlfs::GvaRange> ranges, char* buf, std::size_t n) {
  return put(buf, n, "space={:#x} flags={:#x} {} ranges={}", in.address_space, in.flags,
             VpSetText(in.processors, banks).view(), ranges.size());
}

std::size_t describe_partition_id(const tlfs::PartitionIdInput& in, char* buf, std::size_t n) {
  return put(buf, n, "partition={:#x}", in.partition_id);
}

std::size_t describe_enable_partition_vtl(const tlfs::EnablePartitionVtlInput& in, char* buf,
                                          std::size_t n) {
  return put(buf, n, "partition={:#x} vtl={} flags={:#x}", in.partition_id, in.target_vtl,
             in.flags);
}

std::size_t describe_vp_registers(const tlfs::VpRegistersHeader& h,
                                  RepInput<tlfs::GetVpRegistersElement> names, char* buf,
                                  std::size_t n) {
  return put(buf, n, "partition={:#x} vp={:#x} vtl={:#04x} names={:#x}{}", h.partition_id,
             h.vp_index, h.target_vtl.raw, names.size() > 0 ? names[0] : 0u,
             names.size() > 1 ? ",..." : "");
}

std::size_t describe_set_vp_registers(const tlfs::VpRegistersHeader& h,
                                      RepInput<tlfs::SetVpRegistersElement> elements, char* buf,
                                      std::size_t n) {
  const tlfs::SetVpRegistersElement first =
      elements.size() > 0 ? elements[0] : tlfs::SetVpRegistersElement{};
  return put(buf, n, "partition={:#x} vp={:#x} vtl={:#04x} {:#x}={:#x}{}", h.partition_id,
             h.vp_index, h.target_vtl.raw, first.name, first.value.low,
             elements.size() > 1 ? ",..." : "");
}

std::size_t describe_nothing(const NoInput&, char* buf, std::size_t n) {
  return put(buf, n, "");
}

std::size_t describe_next_child(const tlfs::GetNextChildPartitionInput& in, char* buf,
                                std::size_t n) {
  return put(buf, n, "parent={:#x} previous={:#x}", in.parent_id, in.previous_child_id);
}

}  // namespace hvk::hv
