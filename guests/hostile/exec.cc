// Issuing a call and checking its answer: the status against what the conformance table allows,
// reps completed, the result's reserved bits, the values written, and that hvk wrote nothing in
// the VP's own input and output pages outside the call's output.
#include "calls.h"

namespace hostile {

namespace {

using tlfs::HypercallControl;

struct PageCall {
  const Call* c;
  std::uint64_t result;
};

void page_call_fn(void* arg) {
  auto* p = static_cast<PageCall*>(arg);
  p->result = hostile_page_call(p->c->control, p->c->input, p->c->output, p->c->page);
}

void describe(const Call& c, char* buf, std::size_t size) {
  std::size_t n = snprintf(
      buf, size, "%s (0x%04x) control 0x%016lx input 0x%lx (%s) output 0x%lx (%s)%s",
      c.shape ? c.shape->name : "unknown code", static_cast<unsigned>(c.control & 0xFFFF),
      c.control, c.input, c.in_kind, c.output, c.out_kind, c.via_page ? " via the page" : "");
  if (n < size && c.bytes != nullptr) {
    const std::uint64_t len = c.shape ? input_len(*c.shape, HypercallControl{c.control}) : 0;
    n += snprintf(buf + n, size - n, "; input");
    for (std::uint32_t i = 0; i < len && i < 32 && n < size; i += 8) {
      n += snprintf(buf + n, size - n, " %016lx", load<std::uint64_t>(c.bytes + i));
    }
  }
}

// The output page holds kOutFill everywhere but where the last call may have written,
// [lo, hi) (page offsets). Checks the bytes around that range (or, with nothing written, where the
// output would have gone), refills the range, and scans the whole page every 64 calls.
void settle_out_page(Worker& w, const Call& c, std::uint32_t lo, std::uint32_t hi) {
  std::uint8_t* page = w.out;
  int bad = -1;
  const auto qwords = [&](std::uint32_t from, std::uint32_t to) {
    from &= ~7u;
    to = to > kPage ? kPage : to;
    if (bad >= 0 || from >= to) return;
    const std::uint64_t i = scan_qwords(page + from, kOutFill, (to - from) / 8);
    if (i < (to - from) / 8) bad = static_cast<int>(from + 8 * i);
  };
  const auto bytes = [&](std::uint32_t from, std::uint32_t to) {
    for (std::uint32_t i = from; i < to && bad < 0; ++i) {
      if (page[i] != 0xA5) bad = static_cast<int>(i);
    }
  };
  if (hi > lo) {
    const std::uint32_t alo = lo & ~7u, ahi = (hi + 7) & ~7u;
    bytes(alo, lo);
    bytes(hi, ahi);
    qwords(alo >= 16 ? alo - 16 : 0, alo);
    qwords(ahi, ahi + 64);
    fill_qwords(page + alo, kOutFill, (ahi - alo) / 8);
  } else if (c.out_where == Where::kOwnOut) {
    qwords(c.out_off, c.out_off + 64);
  }
  if (bad < 0 && ++w.out_checks >= 64) {
    w.out_checks = 0;
    qwords(0, kPage);
  }
  if (bad < 0) return;
  char d[384];
  describe(c, d, sizeof d);
  fail(
      "hvk wrote 0x%02x at 0x%lx (own output page + 0x%x), outside the output [+0x%x, +0x%x) "
      "of this call or (found by the scan every 64 calls) of one of the calls before: %s",
      page[bad], reinterpret_cast<std::uint64_t>(page) + static_cast<unsigned>(bad),
      static_cast<unsigned>(bad), lo, hi, d);
  fill_qwords(page, kOutFill, kPage / 8);
}

bool is_child_id(std::uint64_t id) {
  for (std::uint32_t i = 0; i < env().children; ++i) {
    if (env().child_part[i].id == id) return true;
  }
  return false;
}

bool self_pid(std::uint64_t id) {
  return id == tlfs::kPartitionIdSelf || id == env().own_id;
}

// Values a call wrote into the VP's own pages, for calls whose answer the model fixed. `in` is
// the input as it was before the call (the output may have overwritten it: A17).
void check_outputs(Worker& w, const Call& c, const std::uint8_t* in, unsigned start, unsigned reps,
                   bool success) {
  const auto* out = reinterpret_cast<const std::uint8_t*>(c.output);
  switch (c.shape->code) {
    case 0x0046:
      if (success && load<std::uint64_t>(out) != env().own_id) {
        fail("P8: GetPartitionId wrote %lu, own id %lu", load<std::uint64_t>(out), env().own_id);
      }
      return;
    case 0x0047: {
      const auto next = load<std::uint64_t>(out);
      const auto prev = load<std::uint64_t>(in + 8);
      if (success && next != 0 && (!is_child_id(next) || next <= prev)) {
        fail("P7: GetNextChildPartition(previous %lu) wrote %lu, not a child id above it", prev,
             next);
      }
      return;
    }
    case 0x009A:
      if (!self_pid(load<std::uint64_t>(in))) return;
      for (unsigned i = start; i < reps; ++i) {
        const auto got = load<std::uint32_t>(out + 4 * i);
        const auto apic = load<std::uint32_t>(in + 16 + 4 * i);
        if (got != apic) {
          char d[384];
          describe(c, d, sizeof d);
          fail("V1: APIC ID %u mapped to VP index %u (element %u): %s", apic, got, i, d);
        }
      }
      return;
    case 0x0050: {
      if (!self_pid(load<std::uint64_t>(in))) return;
      const auto vp = load<std::uint32_t>(in + 8);
      const bool own = vp == tlfs::kVpIndexSelf || vp == w.index;
      for (unsigned i = start; i < reps; ++i) {
        const auto name = load<std::uint32_t>(in + 16 + 4 * i);
        if (own || reg_is_vsm_readable(name)) {
          reg_check_read(w, name, load<tlfs::RegisterValue>(out + 16 * i));
        }
      }
      return;
    }
    default:
      return;
  }
}

void account(Worker& w, const Call& c, const Expect& e, std::uint16_t status) {
  Stats& s = w.st;
  ++s.calls;
  ++(HypercallControl{c.control}.fast() ? s.fast : s.memory);
  ++s.by_code[c.shape ? c.shape->cls : kClsUnknown];
  ++s.by_status[slot_of(status)];
  if (e.decided) ++s.refused_at_dispatch;
}

}  // namespace

std::uint64_t run_call(Worker& w, Call& c) {
  const HypercallControl ctl{c.control};
  const Expect e = predict(c, w);
  // The first qwords of a memory input, to see that hvk leaves them alone (and to check the
  // outputs against when the output overwrites the input).
  constexpr std::uint32_t kSaved = 8;
  std::uint64_t saved[kSaved];
  std::uint32_t nsaved = 0;
  std::uint64_t in_qwords = 0;
  if (!ctl.fast() && c.bytes != nullptr && c.shape != nullptr) {
    in_qwords = (input_len(*c.shape, ctl) + 7) / 8;
    nsaved = static_cast<std::uint32_t>(in_qwords < kSaved ? in_qwords : kSaved);
    for (std::uint32_t i = 0; i < nsaved; ++i) saved[i] = load<std::uint64_t>(c.bytes + 8 * i);
  }

  std::uint64_t r;
  // XMM0-5 as the block says (only XMM fast calls read them; nothing else here touches them).
  if (ctl.fast()) hv_load_xmm(reinterpret_cast<const XmmBlock*>(c.fast + 16));
  if (c.via_page) {
    c.page = env().hc_pages[w.rng.below(kZonePages + 1)];
    ++w.st.page;
    PageCall pc{&c, 0};
    ExceptionHook info{};
    const int v = catch_exception(page_call_fn, &pc, &info);
    if (v >= 0) {
      fail(
          "calling through the hypercall page at 0x%lx raised exception %d at 0x%lx "
          "(page + 0x%lx)",
          c.page, v, info.rip, info.rip - c.page);
      ctx_page_undo(w, c);
      return ~0ull;
    }
    r = pc.result;
  } else {
    ++w.st.raw;
    r = hostile_raw_call(c.control, c.input, c.output);
  }

  const auto status = static_cast<std::uint16_t>(r);
  const unsigned reps = static_cast<unsigned>((r >> 32) & 0xFFF);
  const unsigned count = ctl.rep_count();
  const unsigned start = ctl.rep_start();
  account(w, c, e, status);

  const char* why = nullptr;
  if (!in_set(e.allowed, status)) {
    why = "status";
  } else if ((r & 0xFFFF'0000ull) != 0 || (r >> 44) != 0) {
    why = "reserved result bits";
  } else if (e.reps >= 0 && reps != static_cast<unsigned>(e.reps)) {
    why = "reps completed";
  } else if (e.reps < 0 && c.shape != nullptr && c.shape->rep &&
             (reps < start || reps > count || (status == 0) != (reps == count))) {
    why = "reps completed (range)";
  } else if (e.reps < 0 && (c.shape == nullptr || !c.shape->rep) && reps != 0) {
    why = "reps completed (simple call)";
  }
  if (why != nullptr) {
    char d[384], allowed[256];
    describe(c, d, sizeof d);
    format_set(e.allowed, allowed, sizeof allowed);
    fail("%s: %s -> result 0x%lx (%s, reps %u); allowed %s, reps %d (rule %s)", why, d, r,
         hv_status_name(status), reps, allowed, e.reps, e.rule);
  }

  // Where hvk may have written: the output elements it completed, or a simple call's output.
  std::uint64_t lo = 0, hi = 0;
  if (c.shape != nullptr && !e.decided && !ctl.fast()) {
    if (c.shape->rep && c.shape->out_elem != 0 && reps > start) {
      lo = c.output + std::uint64_t{start} * c.shape->out_elem;
      hi = c.output + std::uint64_t{reps} * c.shape->out_elem;
    } else if (!c.shape->rep && c.shape->out_size != 0 && status == 0) {
      lo = c.output;
      hi = c.output + c.shape->out_size;
    }
  }
  if (nsaved != 0 && (hi <= c.input || lo >= c.input + 8 * nsaved)) {
    for (std::uint32_t i = 0; i < nsaved; ++i) {
      if (load<std::uint64_t>(c.bytes + 8 * i) == saved[i]) continue;
      char d[384];
      describe(c, d, sizeof d);
      fail("hvk changed the call's input at 0x%lx from 0x%016lx to 0x%016lx: %s", c.input + 8 * i,
           saved[i], load<std::uint64_t>(c.bytes + 8 * i), d);
      break;
    }
  }
  if (why == nullptr && c.shape != nullptr && !e.decided && c.out_where != Where::kOther &&
      content_known(c) && !ctl.fast()) {
    if (c.out_where == Where::kOwnOut) {
      check_outputs(w, c, c.bytes, start, reps, status == 0);
    } else if (in_qwords <= nsaved) {
      check_outputs(w, c, reinterpret_cast<const std::uint8_t*>(saved), start, reps, status == 0);
    }
  }
  ctx_page_undo(w, c);
  const auto base = reinterpret_cast<std::uint64_t>(w.out);
  std::uint32_t plo = 0, phi = 0;
  if (hi > base && lo < base + kPage) {
    plo = static_cast<std::uint32_t>(lo > base ? lo - base : 0);
    phi = static_cast<std::uint32_t>(hi < base + kPage ? hi - base : kPage);
  }
  settle_out_page(w, c, plo, phi);
  return r;
}

std::uint64_t call_expecting(Worker& w, std::uint64_t control, const void* input, std::uint32_t len,
                             StatusSet allowed, const char* what) {
  memcpy(w.in, input, len);
  const std::uint64_t r = hostile_raw_call(control, reinterpret_cast<std::uint64_t>(w.in),
                                           reinterpret_cast<std::uint64_t>(w.in + kScratchOut));
  const auto status = static_cast<std::uint16_t>(r);
  ++w.st.calls;
  ++w.st.raw;
  ++w.st.memory;
  const Shape* s = shape_of(static_cast<std::uint16_t>(control));
  ++w.st.by_code[s ? s->cls : kClsUnknown];
  ++w.st.by_status[slot_of(status)];
  const bool rep = s != nullptr && s->rep;
  if (!in_set(allowed, status) || (r & 0xFFFF'0000ull) != 0 || (r >> 44) != 0 ||
      (!rep && (r >> 32) != 0)) {
    char a[256];
    format_set(allowed, a, sizeof a);
    fail("%s: control 0x%lx -> result 0x%lx (%s); allowed %s", what, control, r,
         hv_status_name(status), a);
  }
  return r;
}

}  // namespace hostile
