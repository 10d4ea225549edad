// The x86-64 register file as gdb sees it: a table of names and sizes, a codec between hvk's
// X86Registers and the 'g'/'p' packets' little-endian bytes, and the target description.
#include "gdb/x86_registers.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <string>
#include <type_traits>

namespace hvk::gdb {
namespace {

// The codec copies each field's bytes as they lie in memory.
static_assert(std::endian::native == std::endian::little);

constexpr RegisterInfo kRegisters[] = {
    {"rax", 8, Feature::kCore, "int64"},
    {"rbx", 8, Feature::kCore, "int64"},
    {"rcx", 8, Feature::kCore, "int64"},
    {"rdx", 8, Feature::kCore, "int64"},
    {"rsi", 8, Feature::kCore, "int64"},
    {"rdi", 8, Feature::kCore, "int64"},
    {"rbp", 8, Feature::kCore, "data_ptr"},
    {"rsp", 8, Feature::kCore, "data_ptr"},
    {"r8", 8, Feature::kCore, "int64"},
    {"r9", 8, Feature::kCore, "int64"},
    {"r10", 8, Feature::kCore, "int64"},
    {"r11", 8, Feature::kCore, "int64"},
    {"r12", 8, Feature::kCore, "int64"},
    {"r13", 8, Feature::kCore, "int64"},
    {"r14", 8, Feature::kCore, "int64"},
    {"r15", 8, Feature::kCore, "int64"},
    {"rip", 8, Feature::kCore, "code_ptr"},
    {"eflags", 4, Feature::kCore, "i386_eflags"},
    {"cs", 4, Feature::kCore, "int32"},
    {"ss", 4, Feature::kCore, "int32"},
    {"ds", 4, Feature::kCore, "int32"},
    {"es", 4, Feature::kCore, "int32"},
    {"fs", 4, Feature::kCore, "int32"},
    {"gs", 4, Feature::kCore, "int32"},
    {"st0", 10, Feature::kCore, "i387_ext"},
    {"st1", 10, Feature::kCore, "i387_ext"},
    {"st2", 10, Feature::kCore, "i387_ext"},
    {"st3", 10, Feature::kCore, "i387_ext"},
    {"st4", 10, Feature::kCore, "i387_ext"},
    {"st5", 10, Feature::kCore, "i387_ext"},
    {"st6", 10, Feature::kCore, "i387_ext"},
    {"st7", 10, Feature::kCore, "i387_ext"},
    {"fctrl", 4, Feature::kCore, "int", "float"},
    {"fstat", 4, Feature::kCore, "int", "float"},
    {"ftag", 4, Feature::kCore, "int", "float"},
    {"fiseg", 4, Feature::kCore, "int", "float"},
    {"fioff", 4, Feature::kCore, "int", "float"},
    {"foseg", 4, Feature::kCore, "int", "float"},
    {"fooff", 4, Feature::kCore, "int", "float"},
    {"fop", 4, Feature::kCore, "int", "float"},
    {"xmm0", 16, Feature::kSse, "vec128"},
    {"xmm1", 16, Feature::kSse, "vec128"},
    {"xmm2", 16, Feature::kSse, "vec128"},
    {"xmm3", 16, Feature::kSse, "vec128"},
    {"xmm4", 16, Feature::kSse, "vec128"},
    {"xmm5", 16, Feature::kSse, "vec128"},
    {"xmm6", 16, Feature::kSse, "vec128"},
    {"xmm7", 16, Feature::kSse, "vec128"},
    {"xmm8", 16, Feature::kSse, "vec128"},
    {"xmm9", 16, Feature::kSse, "vec128"},
    {"xmm10", 16, Feature::kSse, "vec128"},
    {"xmm11", 16, Feature::kSse, "vec128"},
    {"xmm12", 16, Feature::kSse, "vec128"},
    {"xmm13", 16, Feature::kSse, "vec128"},
    {"xmm14", 16, Feature::kSse, "vec128"},
    {"xmm15", 16, Feature::kSse, "vec128"},
    {"mxcsr", 4, Feature::kSse, "i386_mxcsr", "vector"},
    {"fs_base", 8, Feature::kSegments, "int"},
    {"gs_base", 8, Feature::kSegments, "int"},
    {"cr0", 8, Feature::kSystem, "hvk_cr0"},
    {"cr2", 8, Feature::kSystem, "data_ptr"},
    {"cr3", 8, Feature::kSystem, "int64"},
    {"cr4", 8, Feature::kSystem, "hvk_cr4"},
    {"cr8", 8, Feature::kSystem, "int64"},
    {"efer", 8, Feature::kSystem, "hvk_efer"},
    {"cs_base", 8, Feature::kSystem, "data_ptr"},
    {"ss_base", 8, Feature::kSystem, "data_ptr"},
    {"ds_base", 8, Feature::kSystem, "data_ptr"},
    {"es_base", 8, Feature::kSystem, "data_ptr"},
    {"k_gs_base", 8, Feature::kSystem, "data_ptr"},
    {"gdtr_base", 8, Feature::kSystem, "data_ptr"},
    {"gdtr_limit", 4, Feature::kSystem, "int32"},
    {"idtr_base", 8, Feature::kSystem, "data_ptr"},
    {"idtr_limit", 4, Feature::kSystem, "int32"},
    {"tr", 4, Feature::kSystem, "int32"},
    {"tr_base", 8, Feature::kSystem, "data_ptr"},
    {"ldtr", 4, Feature::kSystem, "int32"},
    {"ldtr_base", 8, Feature::kSystem, "data_ptr"},
};

constexpr std::size_t kFileBytes = [] {
  std::size_t total = 0;
  for (const RegisterInfo& r : kRegisters) total += r.bytes;
  return total;
}();

// Every register's field in `regs` (const or not), in register-number order, as bytes at the
// field's own width, which may differ from the register's size in gdb (eflags, selectors).
template <class Regs>
auto fields(Regs& r) {
  using Span = std::span<std::conditional_t<std::is_const_v<Regs>, const std::byte, std::byte>>;
  std::array<Span, std::size(kRegisters)> out{};
  std::size_t n = 0;
  const auto add = [&](auto& v) {
    if constexpr (std::is_const_v<Regs>) {
      out[n++] = std::as_bytes(std::span{&v, 1});
    } else {
      out[n++] = std::as_writable_bytes(std::span{&v, 1});
    }
  };
  for (auto& v : r.gpr) add(v);
  add(r.rip);
  add(r.rflags);
  for (auto* v : {&r.cs, &r.ss, &r.ds, &r.es, &r.fs, &r.gs}) add(*v);
  for (auto& v : r.st) add(v);
  for (auto* v : {&r.fctrl, &r.fstat, &r.ftag, &r.fiseg, &r.fioff, &r.foseg, &r.fooff, &r.fop}) {
    add(*v);
  }
  for (auto& v : r.xmm) add(v);
  add(r.mxcsr);
  for (auto* v :
       {&r.fs_base, &r.gs_base, &r.cr0, &r.cr2, &r.cr3, &r.cr4, &r.cr8, &r.efer, &r.cs_base,
        &r.ss_base, &r.ds_base, &r.es_base, &r.kernel_gs_base, &r.gdtr_base}) {
    add(*v);
  }
  add(r.gdtr_limit);
  add(r.idtr_base);
  add(r.idtr_limit);
  add(r.tr);
  add(r.tr_base);
  add(r.ldtr);
  add(r.ldtr_base);
  return out;
}

// A field appended to `out` at its register's gdb size: zero-extended or truncated.
void put(std::span<const std::byte> from, std::size_t size, std::vector<std::uint8_t>& out) {
  const std::size_t at = out.size();
  out.resize(at + size, 0);
  std::memcpy(out.data() + at, from.data(), std::min(size, from.size()));
}

// A field from exactly its register's gdb size in bytes: low bits kept, the rest zeroed.
void take(std::span<std::byte> to, std::size_t size, const std::uint8_t* from) {
  std::fill(to.begin(), to.end(), std::byte{0});
  std::memcpy(to.data(), from, std::min(to.size(), size));
}

// gdb reads the target description through qXfer:features:read:target.xml: each feature's types
// (before the registers that use them), then its registers, made from kRegisters so that the
// description and the 'g' layout cannot drift apart. Every register names its regnum, its
// position in kRegisters and in 'g' packets. gdb's amd64 code files registers into groups by
// type, not by a "group" attribute, so the system registers show in `info registers` beside the
// general ones.
struct FeatureText {
  std::string_view name;
  std::string_view types;
};
constexpr FeatureText kFeatures[] = {
    {"org.gnu.gdb.i386.core", R"xml(  <flags id="i386_eflags" size="4">
    <field name="CF" start="0" end="0"/> <field name="PF" start="2" end="2"/>
    <field name="AF" start="4" end="4"/> <field name="ZF" start="6" end="6"/>
    <field name="SF" start="7" end="7"/> <field name="TF" start="8" end="8"/>
    <field name="IF" start="9" end="9"/> <field name="DF" start="10" end="10"/>
    <field name="OF" start="11" end="11"/> <field name="NT" start="14" end="14"/>
    <field name="RF" start="16" end="16"/> <field name="VM" start="17" end="17"/>
    <field name="AC" start="18" end="18"/> <field name="VIF" start="19" end="19"/>
    <field name="VIP" start="20" end="20"/> <field name="ID" start="21" end="21"/>
  </flags>
)xml"},
    {"org.gnu.gdb.i386.sse", R"xml(  <vector id="hvk_f32x4" type="ieee_single" count="4"/>
  <vector id="hvk_f64x2" type="ieee_double" count="2"/>
  <vector id="hvk_i8x16" type="int8" count="16"/>
  <vector id="hvk_i16x8" type="int16" count="8"/>
  <vector id="hvk_i32x4" type="int32" count="4"/>
  <vector id="hvk_i64x2" type="int64" count="2"/>
  <union id="vec128">
    <field name="v4_float" type="hvk_f32x4"/> <field name="v2_double" type="hvk_f64x2"/>
    <field name="v16_int8" type="hvk_i8x16"/> <field name="v8_int16" type="hvk_i16x8"/>
    <field name="v4_int32" type="hvk_i32x4"/> <field name="v2_int64" type="hvk_i64x2"/>
    <field name="uint128" type="uint128"/>
  </union>
  <flags id="i386_mxcsr" size="4">
    <field name="IE" start="0" end="0"/> <field name="DE" start="1" end="1"/>
    <field name="ZE" start="2" end="2"/> <field name="OE" start="3" end="3"/>
    <field name="UE" start="4" end="4"/> <field name="PE" start="5" end="5"/>
    <field name="DAZ" start="6" end="6"/> <field name="IM" start="7" end="7"/>
    <field name="DM" start="8" end="8"/> <field name="ZM" start="9" end="9"/>
    <field name="OM" start="10" end="10"/> <field name="UM" start="11" end="11"/>
    <field name="PM" start="12" end="12"/> <field name="FZ" start="15" end="15"/>
  </flags>
)xml"},
    {"org.gnu.gdb.i386.segments", ""},
    {"org.hvk.x86.system", R"xml(  <flags id="hvk_cr0" size="8">
    <field name="PE" start="0" end="0"/> <field name="MP" start="1" end="1"/>
    <field name="EM" start="2" end="2"/> <field name="TS" start="3" end="3"/>
    <field name="ET" start="4" end="4"/> <field name="NE" start="5" end="5"/>
    <field name="WP" start="16" end="16"/> <field name="AM" start="18" end="18"/>
    <field name="NW" start="29" end="29"/> <field name="CD" start="30" end="30"/>
    <field name="PG" start="31" end="31"/>
  </flags>
  <flags id="hvk_cr4" size="8">
    <field name="VME" start="0" end="0"/> <field name="PVI" start="1" end="1"/>
    <field name="TSD" start="2" end="2"/> <field name="DE" start="3" end="3"/>
    <field name="PSE" start="4" end="4"/> <field name="PAE" start="5" end="5"/>
    <field name="MCE" start="6" end="6"/> <field name="PGE" start="7" end="7"/>
    <field name="PCE" start="8" end="8"/> <field name="OSFXSR" start="9" end="9"/>
    <field name="OSXMMEXCPT" start="10" end="10"/> <field name="UMIP" start="11" end="11"/>
    <field name="LA57" start="12" end="12"/> <field name="VMXE" start="13" end="13"/>
    <field name="SMXE" start="14" end="14"/> <field name="FSGSBASE" start="16" end="16"/>
    <field name="PCIDE" start="17" end="17"/> <field name="OSXSAVE" start="18" end="18"/>
    <field name="SMEP" start="20" end="20"/> <field name="SMAP" start="21" end="21"/>
    <field name="PKE" start="22" end="22"/> <field name="CET" start="23" end="23"/>
    <field name="PKS" start="24" end="24"/>
  </flags>
  <flags id="hvk_efer" size="8">
    <field name="SCE" start="0" end="0"/> <field name="LME" start="8" end="8"/>
    <field name="LMA" start="10" end="10"/> <field name="NXE" start="11" end="11"/>
    <field name="SVME" start="12" end="12"/> <field name="LMSLE" start="13" end="13"/>
    <field name="FFXSR" start="14" end="14"/> <field name="TCE" start="15" end="15"/>
  </flags>
)xml"},
};

std::string make_target_xml() {
  std::string xml =
      "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
      "<target version=\"1.0\">\n<architecture>i386:x86-64</architecture>\n";
  for (std::size_t f = 0; f < std::size(kFeatures); ++f) {
    xml += fmt::format("<feature name=\"{}\">\n{}", kFeatures[f].name, kFeatures[f].types);
    for (std::size_t n = 0; n < std::size(kRegisters); ++n) {
      const RegisterInfo& r = kRegisters[n];
      if (static_cast<std::size_t>(r.feature) != f) continue;
      xml += fmt::format("  <reg name=\"{}\" bitsize=\"{}\" type=\"{}\" regnum=\"{}\"", r.name,
                         r.bytes * 8, r.type, n);
      if (!r.group.empty()) xml += fmt::format(" group=\"{}\"", r.group);
      xml += "/>\n";
    }
    xml += "</feature>\n";
  }
  return xml + "</target>\n";
}

}  // namespace

std::span<const RegisterInfo> registers() {
  return kRegisters;
}

std::size_t register_file_bytes() {
  return kFileBytes;
}

std::vector<std::uint8_t> encode_registers(const X86Registers& regs) {
  std::vector<std::uint8_t> out;
  out.reserve(kFileBytes);
  const auto from = fields(regs);
  for (std::size_t n = 0; n < from.size(); ++n) put(from[n], kRegisters[n].bytes, out);
  return out;
}

bool decode_registers(std::span<const std::uint8_t> bytes, X86Registers& regs) {
  if (bytes.size() != kFileBytes) return false;
  std::size_t at = 0;
  const auto to = fields(regs);
  for (std::size_t n = 0; n < to.size(); ++n) {
    take(to[n], kRegisters[n].bytes, bytes.data() + at);
    at += kRegisters[n].bytes;
  }
  return true;
}

std::optional<std::vector<std::uint8_t>> encode_register(const X86Registers& regs,
                                                         std::uint64_t number) {
  if (number >= std::size(kRegisters)) return std::nullopt;
  std::vector<std::uint8_t> out;
  put(fields(regs)[number], kRegisters[number].bytes, out);
  return out;
}

bool decode_register(std::uint64_t number, std::span<const std::uint8_t> bytes,
                     X86Registers& regs) {
  if (number >= std::size(kRegisters) || bytes.size() != kRegisters[number].bytes) return false;
  take(fields(regs)[number], kRegisters[number].bytes, bytes.data());
  return true;
}

std::optional<std::string_view> target_description(std::string_view annex) {
  if (annex != "target.xml") return std::nullopt;
  static const std::string xml = make_target_xml();
  return xml;
}

}  // namespace hvk::gdb
