// The device tree hvk hands a kernel booted without ACPI: parsed back with libfdt.
#include <gtest/gtest.h>

extern "C" {
#include <libfdt.h>
}

#include <string>

#include "machine/firmware/dtb.h"

namespace hvk::machine {
namespace {

TEST(Dtb, OneCpuNodePerApicIdWithRegAndDeviceType) {
  const std::uint32_t ids[] = {0, 1, 2, 0x11};
  auto dtb = build_cpu_dtb(ids);
  ASSERT_TRUE(dtb.ok()) << dtb.error();
  const void* fdt = dtb->data();
  ASSERT_EQ(fdt_check_header(fdt), 0);
  EXPECT_EQ(fdt_totalsize(fdt), dtb->size());
  const int cpus = fdt_path_offset(fdt, "/cpus");
  ASSERT_GE(cpus, 0);
  int count = 0;
  int node;
  fdt_for_each_subnode(node, fdt, cpus) {
    int len = 0;
    const auto* type = static_cast<const char*>(fdt_getprop(fdt, node, "device_type", &len));
    ASSERT_NE(type, nullptr);
    EXPECT_EQ(std::string(type), "cpu");
    const auto* reg = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, "reg", &len));
    ASSERT_NE(reg, nullptr);
    ASSERT_EQ(len, 4);
    EXPECT_EQ(fdt32_to_cpu(*reg), ids[count]);
    ++count;
  }
  EXPECT_EQ(count, 4);
  EXPECT_GE(fdt_path_offset(fdt, "/cpus/cpu@11"), 0);
}

TEST(Dtb, ScalesToManyVps) {
  std::vector<std::uint32_t> ids(1024);
  for (std::uint32_t i = 0; i < ids.size(); ++i) ids[i] = i;
  auto dtb = build_cpu_dtb(ids);
  ASSERT_TRUE(dtb.ok()) << dtb.error();
  EXPECT_GE(fdt_path_offset(dtb->data(), "/cpus/cpu@3ff"), 0);
}

}  // namespace
}  // namespace hvk::machine
