// The x86-64 register file as gdb sees it: a table of names and sizes, a codec between hvk's
// X86Registers and the 'g'/'p' packets' little-endian bytes, and the target description.
#include "gdb/x86_registers.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <type_traits>

namespace hvk::gdb {
namespace {

// The codec copies each field's bytes as they lie in memory.
static_assert(std::endian::native == std::endian::little);

constexpr RegisterInfo kRegisters[] = {
    {"rax", 8},       {"rbx", 8},        {"rcx", 8},       {"rdx", 8},        {"rsi", 8},
    {"rdi", 8},       {"rbp", 8},        {"rsp", 8},       {"r8", 8},         {"r9", 8},
    {"r10", 8},       {"r11", 8},        {"r12", 8},       {"r13", 8},        {"r14", 8},
    {"r15", 8},       {"rip", 8},        {"eflags", 4},    {"cs", 4},         {"ss", 4},
    {"ds", 4},        {"es", 4},         {"fs", 4},        {"gs", 4},         {"st0", 10},
    {"st1", 10},      {"st2", 10},       {"st3", 10},      {"st4", 10},       {"st5", 10},
    {"st6", 10},      {"st7", 10},       {"fctrl", 4},     {"fstat", 4},      {"ftag", 4},
    {"fiseg", 4},     {"fioff", 4},      {"foseg", 4},     {"fooff", 4},      {"fop", 4},
    {"xmm0", 16},     {"xmm1", 16},      {"xmm2", 16},     {"xmm3", 16},      {"xmm4", 16},
    {"xmm5", 16},     {"xmm6", 16},      {"xmm7", 16},     {"xmm8", 16},      {"xmm9", 16},
    {"xmm10", 16},    {"xmm11", 16},     {"xmm12", 16},    {"xmm13", 16},     {"xmm14", 16},
    {"xmm15", 16},    {"mxcsr", 4},      {"fs_base", 8},   {"gs_base", 8},    {"cr0", 8},
    {"cr2", 8},       {"cr3", 8},        {"cr4", 8},       {"cr8", 8},        {"efer", 8},
    {"cs_base", 8},   {"ss_base", 8},    {"ds_base", 8},   {"es_base", 8},    {"k_gs_base", 8},
    {"gdtr_base", 8}, {"gdtr_limit", 4}, {"idtr_base", 8}, {"idtr_limit", 4}, {"tr", 4},
    {"tr_base", 8},   {"ldtr", 4},       {"ldtr_base", 8},
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

// gdb reads this through qXfer:features:read:target.xml. Types come before the registers that
// use them; every register names its regnum, its position in kRegisters and in 'g' packets.
// gdb's amd64 code files registers into groups by type, not by a "group" attribute, so the
// system registers show in `info registers` beside the general ones.
constexpr std::string_view kTargetXml = R"xml(<?xml version="1.0"?>
<!DOCTYPE target SYSTEM "gdb-target.dtd">
<target version="1.0">
<architecture>i386:x86-64</architecture>
<feature name="org.gnu.gdb.i386.core">
  <flags id="i386_eflags" size="4">
    <field name="CF" start="0" end="0"/> <field name="PF" start="2" end="2"/>
    <field name="AF" start="4" end="4"/> <field name="ZF" start="6" end="6"/>
    <field name="SF" start="7" end="7"/> <field name="TF" start="8" end="8"/>
    <field name="IF" start="9" end="9"/> <field name="DF" start="10" end="10"/>
    <field name="OF" start="11" end="11"/> <field name="NT" start="14" end="14"/>
    <field name="RF" start="16" end="16"/> <field name="VM" start="17" end="17"/>
    <field name="AC" start="18" end="18"/> <field name="VIF" start="19" end="19"/>
    <field name="VIP" start="20" end="20"/> <field name="ID" start="21" end="21"/>
  </flags>
  <reg name="rax" bitsize="64" type="int64" regnum="0"/>
  <reg name="rbx" bitsize="64" type="int64" regnum="1"/>
  <reg name="rcx" bitsize="64" type="int64" regnum="2"/>
  <reg name="rdx" bitsize="64" type="int64" regnum="3"/>
  <reg name="rsi" bitsize="64" type="int64" regnum="4"/>
  <reg name="rdi" bitsize="64" type="int64" regnum="5"/>
  <reg name="rbp" bitsize="64" type="data_ptr" regnum="6"/>
  <reg name="rsp" bitsize="64" type="data_ptr" regnum="7"/>
  <reg name="r8" bitsize="64" type="int64" regnum="8"/>
  <reg name="r9" bitsize="64" type="int64" regnum="9"/>
  <reg name="r10" bitsize="64" type="int64" regnum="10"/>
  <reg name="r11" bitsize="64" type="int64" regnum="11"/>
  <reg name="r12" bitsize="64" type="int64" regnum="12"/>
  <reg name="r13" bitsize="64" type="int64" regnum="13"/>
  <reg name="r14" bitsize="64" type="int64" regnum="14"/>
  <reg name="r15" bitsize="64" type="int64" regnum="15"/>
  <reg name="rip" bitsize="64" type="code_ptr" regnum="16"/>
  <reg name="eflags" bitsize="32" type="i386_eflags" regnum="17"/>
  <reg name="cs" bitsize="32" type="int32" regnum="18"/>
  <reg name="ss" bitsize="32" type="int32" regnum="19"/>
  <reg name="ds" bitsize="32" type="int32" regnum="20"/>
  <reg name="es" bitsize="32" type="int32" regnum="21"/>
  <reg name="fs" bitsize="32" type="int32" regnum="22"/>
  <reg name="gs" bitsize="32" type="int32" regnum="23"/>
  <reg name="st0" bitsize="80" type="i387_ext" regnum="24"/>
  <reg name="st1" bitsize="80" type="i387_ext" regnum="25"/>
  <reg name="st2" bitsize="80" type="i387_ext" regnum="26"/>
  <reg name="st3" bitsize="80" type="i387_ext" regnum="27"/>
  <reg name="st4" bitsize="80" type="i387_ext" regnum="28"/>
  <reg name="st5" bitsize="80" type="i387_ext" regnum="29"/>
  <reg name="st6" bitsize="80" type="i387_ext" regnum="30"/>
  <reg name="st7" bitsize="80" type="i387_ext" regnum="31"/>
  <reg name="fctrl" bitsize="32" type="int" regnum="32" group="float"/>
  <reg name="fstat" bitsize="32" type="int" regnum="33" group="float"/>
  <reg name="ftag" bitsize="32" type="int" regnum="34" group="float"/>
  <reg name="fiseg" bitsize="32" type="int" regnum="35" group="float"/>
  <reg name="fioff" bitsize="32" type="int" regnum="36" group="float"/>
  <reg name="foseg" bitsize="32" type="int" regnum="37" group="float"/>
  <reg name="fooff" bitsize="32" type="int" regnum="38" group="float"/>
  <reg name="fop" bitsize="32" type="int" regnum="39" group="float"/>
</feature>
<feature name="org.gnu.gdb.i386.sse">
  <vector id="hvk_f32x4" type="ieee_single" count="4"/>
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
  <reg name="xmm0" bitsize="128" type="vec128" regnum="40"/>
  <reg name="xmm1" bitsize="128" type="vec128" regnum="41"/>
  <reg name="xmm2" bitsize="128" type="vec128" regnum="42"/>
  <reg name="xmm3" bitsize="128" type="vec128" regnum="43"/>
  <reg name="xmm4" bitsize="128" type="vec128" regnum="44"/>
  <reg name="xmm5" bitsize="128" type="vec128" regnum="45"/>
  <reg name="xmm6" bitsize="128" type="vec128" regnum="46"/>
  <reg name="xmm7" bitsize="128" type="vec128" regnum="47"/>
  <reg name="xmm8" bitsize="128" type="vec128" regnum="48"/>
  <reg name="xmm9" bitsize="128" type="vec128" regnum="49"/>
  <reg name="xmm10" bitsize="128" type="vec128" regnum="50"/>
  <reg name="xmm11" bitsize="128" type="vec128" regnum="51"/>
  <reg name="xmm12" bitsize="128" type="vec128" regnum="52"/>
  <reg name="xmm13" bitsize="128" type="vec128" regnum="53"/>
  <reg name="xmm14" bitsize="128" type="vec128" regnum="54"/>
  <reg name="xmm15" bitsize="128" type="vec128" regnum="55"/>
  <reg name="mxcsr" bitsize="32" type="i386_mxcsr" regnum="56" group="vector"/>
</feature>
<feature name="org.gnu.gdb.i386.segments">
  <reg name="fs_base" bitsize="64" type="int" regnum="57"/>
  <reg name="gs_base" bitsize="64" type="int" regnum="58"/>
</feature>
<feature name="org.hvk.x86.system">
  <flags id="hvk_cr0" size="8">
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
  <reg name="cr0" bitsize="64" type="hvk_cr0" regnum="59"/>
  <reg name="cr2" bitsize="64" type="data_ptr" regnum="60"/>
  <reg name="cr3" bitsize="64" type="int64" regnum="61"/>
  <reg name="cr4" bitsize="64" type="hvk_cr4" regnum="62"/>
  <reg name="cr8" bitsize="64" type="int64" regnum="63"/>
  <reg name="efer" bitsize="64" type="hvk_efer" regnum="64"/>
  <reg name="cs_base" bitsize="64" type="data_ptr" regnum="65"/>
  <reg name="ss_base" bitsize="64" type="data_ptr" regnum="66"/>
  <reg name="ds_base" bitsize="64" type="data_ptr" regnum="67"/>
  <reg name="es_base" bitsize="64" type="data_ptr" regnum="68"/>
  <reg name="k_gs_base" bitsize="64" type="data_ptr" regnum="69"/>
  <reg name="gdtr_base" bitsize="64" type="data_ptr" regnum="70"/>
  <reg name="gdtr_limit" bitsize="32" type="int32" regnum="71"/>
  <reg name="idtr_base" bitsize="64" type="data_ptr" regnum="72"/>
  <reg name="idtr_limit" bitsize="32" type="int32" regnum="73"/>
  <reg name="tr" bitsize="32" type="int32" regnum="74"/>
  <reg name="tr_base" bitsize="64" type="data_ptr" regnum="75"/>
  <reg name="ldtr" bitsize="32" type="int32" regnum="76"/>
  <reg name="ldtr_base" bitsize="64" type="data_ptr" regnum="77"/>
</feature>
</target>
)xml";

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
  return kTargetXml;
}

}  // namespace hvk::gdb
