#include "machine/firmware/dtb.h"

#include <fmt/format.h>

extern "C" {
#include <libfdt.h>
}

namespace hvk::machine {

namespace {

// Every libfdt call returns 0 or a negative FDT_ERR_*; the first failure ends the build.
class Writer {
 public:
  explicit Writer(std::vector<std::byte>& buf) : buf_(buf) {}
  void check(int r, const char* what) {
    if (r < 0 && error_.empty()) error_ = fmt::format("device tree: {}: {}", what, fdt_strerror(r));
  }
  void* fdt() { return buf_.data(); }
  const std::string& error() const { return error_; }

 private:
  std::vector<std::byte>& buf_;
  std::string error_;
};

}  // namespace

Result<std::vector<std::byte>> build_cpu_dtb(std::span<const std::uint32_t> apic_ids) {
  // Room for the header, the root and about 64 bytes per cpu node, generously.
  std::vector<std::byte> buf(4096 + 128 * apic_ids.size());
  Writer w(buf);
  const int size = static_cast<int>(buf.size());
  w.check(fdt_create(w.fdt(), size), "create");
  w.check(fdt_finish_reservemap(w.fdt()), "reserve map");
  w.check(fdt_begin_node(w.fdt(), ""), "root");
  w.check(fdt_property_string(w.fdt(), "compatible", "hvk,partition"), "compatible");
  w.check(fdt_property_string(w.fdt(), "model", "hvk"), "model");
  w.check(fdt_property_u32(w.fdt(), "#address-cells", 1), "#address-cells");
  w.check(fdt_property_u32(w.fdt(), "#size-cells", 1), "#size-cells");
  w.check(fdt_begin_node(w.fdt(), "cpus"), "cpus");
  w.check(fdt_property_u32(w.fdt(), "#address-cells", 1), "cpus #address-cells");
  w.check(fdt_property_u32(w.fdt(), "#size-cells", 0), "cpus #size-cells");
  for (std::uint32_t apic : apic_ids) {
    const std::string name = fmt::format("cpu@{:x}", apic);
    w.check(fdt_begin_node(w.fdt(), name.c_str()), "cpu node");
    w.check(fdt_property_string(w.fdt(), "device_type", "cpu"), "device_type");
    w.check(fdt_property_u32(w.fdt(), "reg", apic), "reg");
    w.check(fdt_end_node(w.fdt()), "cpu node end");
  }
  w.check(fdt_end_node(w.fdt()), "cpus end");
  w.check(fdt_end_node(w.fdt()), "root end");
  w.check(fdt_finish(w.fdt()), "finish");
  if (!w.error().empty()) return Error{w.error()};
  buf.resize(fdt_totalsize(w.fdt()));
  return buf;
}

}  // namespace hvk::machine
