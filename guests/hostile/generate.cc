// Building a random hypercall: its input, built in place in the VP's page (StartVirtualProcessor
// and EnableVpVtl in the ctx page, whose valid context is changed for one call and restored
// after), and the whole Call from the picks (picks.cc, gpas.cc).
#include "calls.h"
#include "picks.h"

namespace hostile {

namespace {

using tlfs::HypercallControl;

// Changes the qword at `off` of the ctx page for this call only.
void poke(Worker& w, Call& c, std::uint32_t off, std::uint64_t v) {
  if (c.undo_n < 4) {
    c.undo_off[c.undo_n] = off;
    c.undo_val[c.undo_n] = load<std::uint64_t>(w.ctx + off);
    ++c.undo_n;
    store<std::uint64_t>(w.ctx + off, v);
  }
}

// StartVirtualProcessor / EnableVpVtl: the header, then the context page's valid context, kept
// (refused only because the VP runs: the root's VPs all do by now), garbled in up to three
// qwords, or broken on purpose. A child never sends a context that could start anything.
void build_start(Rng& r, Worker& w, Call& c) {
  std::uint8_t* in = w.ctx;
  store<std::uint64_t>(in, pick_pid(r, false));
  const std::uint32_t vp = pick_vp(r, w);
  store<std::uint32_t>(in + 8, vp);
  in[12] = pick_vtl(r);
  store<std::uint16_t>(in + 13, 0);
  in[15] = r.percent(90) ? 0 : static_cast<std::uint8_t>(r.next());
  const std::uint32_t ctx = 16;
  const std::uint32_t target = vp < env().vps ? vp : w.index;
  const unsigned kind = static_cast<unsigned>(r.below(10));
  if (!env().child) store<std::uint64_t>(in + ctx + 8, vp_stack_top(target));  // RSP
  if (kind >= 4 && kind < 7) {
    for (unsigned i = 1 + static_cast<unsigned>(r.below(3)); i > 0; --i) {
      poke(w, c, ctx + 8 * static_cast<std::uint32_t>(r.below(28)), r.next());
    }
  }
  c.bad_context = env().child || kind >= 7;
  if (c.bad_context) {
    constexpr std::uint32_t kRflags = ctx + 16, kEfer = ctx + 184, kCr0 = ctx + 192,
                            kCr4 = ctx + 208, kPat = ctx + 216;
    switch (r.below(5)) {
      case 0:
        poke(w, c, kRflags, 0);  // R1: bit 1 clear
        break;
      case 1:
        poke(w, c, kCr0, load<std::uint64_t>(in + kCr0) | 1ull << (32 + r.below(32)));  // R3
        break;
      case 2:
        poke(w, c, kCr4, load<std::uint64_t>(in + kCr4) | 1ull << 15);  // R5
        break;
      case 3:
        poke(w, c, kEfer, load<std::uint64_t>(in + kEfer) | 1ull << 12);  // R6
        break;
      default:
        poke(w, c, kPat, (load<std::uint64_t>(in + kPat) & ~0xFFull) | 2);  // R11
        break;
    }
  }
}

// Builds the input of `c` at `in` (len bytes fit there). Fields the TLFS layout names get chosen
// values; the bytes in between keep whatever earlier calls left (junk, for free).
void build_input(Rng& r, Worker& w, Call& c, std::uint8_t* in, std::uint64_t len) {
  const HypercallControl ctl{c.control};
  // Elements that fit in `len` (a fast call's 16 bytes hold none).
  const std::uint64_t room =
      c.shape->rep && len > c.shape->in_size ? (len - c.shape->in_size) / c.shape->in_elem : 0;
  const std::uint32_t n =
      static_cast<std::uint32_t>(ctl.rep_count() < room ? ctl.rep_count() : room);
  switch (c.shape->code) {
    case 0x009A: {
      store<std::uint64_t>(in, pick_pid(r, true));
      in[8] = pick_input_vtl(r);
      if (n <= 8) {
        for (std::uint32_t i = 0; i < n; ++i) store<std::uint32_t>(in + 16 + 4 * i, pick_apic(r));
      } else {
        // A long list: one valid APIC ID throughout, perhaps one bad one somewhere.
        const std::uint64_t a = r.below(env().vps);
        fill_qwords(in + 16, a | a << 32, n / 2);
        if (n % 2 != 0) store<std::uint32_t>(in + 16 + 4 * (n - 1), static_cast<std::uint32_t>(a));
        if (r.percent(50)) store<std::uint32_t>(in + 16 + 4 * r.below(n), pick_apic(r));
      }
      return;
    }
    case 0x0041:
    case 0x0042:
    case 0x0043:
      store<std::uint64_t>(in, pick_pid(r, false));
      return;
    case 0x0047:
      store<std::uint64_t>(in, r.percent(70)
                                   ? (r.percent(50) ? tlfs::kPartitionIdSelf : env().own_id)
                                   : pick_pid(r, false));
      store<std::uint64_t>(in + 8, r.percent(50) ? 0 : pick_pid(r, true));
      return;
    case 0x000D:
      store<std::uint64_t>(in, pick_pid(r, false));
      store<std::uint64_t>(in + 8, pick_vtl(r) | (r.percent(85) ? 0 : r.next() << 8));
      return;
    case 0x0050:
    case 0x0051: {
      const bool set = c.shape->code == 0x0051;
      store<std::uint64_t>(in, pick_pid(r, !set));
      store<std::uint32_t>(in + 8, pick_vp(r, w));
      in[12] = pick_input_vtl(r);
      if (!set) {
        if (n <= 8) {
          for (std::uint32_t i = 0; i < n; ++i)
            store<std::uint32_t>(in + 16 + 4 * i, pick_get_name(r));
        } else {
          const std::uint64_t name = static_cast<std::uint32_t>(tlfs::RegisterName::kVsmVpStatus);
          fill_qwords(in + 16, name | name << 32, n / 2);
          if (n % 2 != 0)
            store<std::uint32_t>(in + 16 + 4 * (n - 1), static_cast<std::uint32_t>(name));
          store<std::uint32_t>(in + 16 + 4 * r.below(n), pick_get_name(r));
        }
        return;
      }
      for (std::uint32_t i = 0; i < n && 16 + 32 * (i + 1) <= len; ++i) {
        std::uint8_t* e = in + 16 + 32 * i;
        const RegChoice rc = n <= 8 || i == 0
                                 ? reg_choice(w)
                                 : RegChoice{load<std::uint32_t>(in + 16),
                                             load<tlfs::RegisterValue>(in + 32), false};
        store<std::uint32_t>(e, rc.name);
        store<tlfs::RegisterValue>(e + 16, rc.value);
      }
      return;
    }
    default:
      return;  // 0x46 has no input; unknown codes read junk
  }
}

}  // namespace

void make_context_bad(Rng& r, tlfs::InitialVpContext& c) {
  // One rule of table R that check order cannot hide: each of these is refused on its own.
  switch (r.below(5)) {
    case 0:
      c.rflags &= ~0x2ull;  // R1
      break;
    case 1:
      c.cr0 |= 1ull << (32 + r.below(32));  // R3
      break;
    case 2:
      c.cr4 |= 1ull << 15;  // R5
      break;
    case 3:
      c.efer |= 1ull << (r.percent(50) ? 12 : 1);  // R6
      break;
    default:
      c.msr_cr_pat = (c.msr_cr_pat & ~0xFFull) | 2;  // R11
      break;
  }
}

void ctx_page_init(Worker& w) {
  tlfs::StartVirtualProcessorInput in{};
  in.partition_id = tlfs::kPartitionIdSelf;
  in.vp_context = vp_context_64(reinterpret_cast<std::uint64_t>(&guest_ap_entry64),
                                env().child ? 0 : vp_stack_top(w.index));
  memcpy(w.ctx, &in, sizeof in);
}

void ctx_page_undo(Worker& w, Call& c) {
  while (c.undo_n > 0) {
    --c.undo_n;
    store<std::uint64_t>(w.ctx + c.undo_off[c.undo_n], c.undo_val[c.undo_n]);
  }
}

void generate(Worker& w, Call& c) {
  Rng& r = w.rng;
  const std::uint16_t code = pick_code(r);
  const Shape* s = shape_of(code);
  c.shape = s;
  c.via_page = r.percent(12);
  c.bad_context = false;
  c.bytes = nullptr;
  c.undo_n = 0;
  // The fast form (RDX, R8 and XMM0-5: 112 bytes) fits the calls with small inputs; the model
  // (A11) decides with the rep count chosen.
  const bool fits_fast = s != nullptr && s->in_size <= 16 && s->out_size <= 96;
  const bool fast = r.percent(fits_fast ? 40 : 8);
  c.control = make_control(r, s, code, fast);
  const HypercallControl ctl{c.control};
  const std::uint64_t in_len = s != nullptr ? input_len(*s, ctl) : 8 * r.below(40);
  const std::uint64_t out_len = s != nullptr ? output_len(*s, ctl) : 8 * r.below(4);
  const bool start_like = s != nullptr && (code == 0x0099 || code == 0x000F);

  if (fast) {
    // The fast form's input is the register block: build it where a memory input would be, then
    // copy it (the bytes past the input are junk, as in any register).
    if (s != nullptr && !start_like && in_len <= sizeof c.fast) {
      store<std::uint64_t>(w.in + 8, 0);
      build_input(r, w, c, w.in, sizeof c.fast);
    } else {
      for (std::uint32_t i = 0; i < sizeof c.fast; i += 8) store<std::uint64_t>(w.in + i, r.next());
    }
    memcpy(c.fast, w.in, sizeof c.fast);
    c.input = load<std::uint64_t>(c.fast);
    c.output = load<std::uint64_t>(c.fast + 8);
    c.bytes = c.fast;
    c.in_where = c.out_where = Where::kOther;
    c.in_kind = c.out_kind = "fast registers";
    return;
  }

  std::uint8_t* base = start_like ? w.ctx : w.in;
  Pick in = pick_in(r, base, in_len);
  if (start_like && in.where == Where::kOwnIn && in.off % 8 == 0) {
    in.off = 0;  // the context lives at the start of the ctx page
    in.gpa = reinterpret_cast<std::uint64_t>(base);
  }
  const bool mutating = s != nullptr && s->mutating;
  // A call that changes state reads only bytes this VP wrote: any other input that passes the
  // GPA rules is moved to the VP's own page.
  if (mutating && in.where != Where::kOwnIn && gpa_ok(in.gpa, in_len)) {
    in = {reinterpret_cast<std::uint64_t>(base), Where::kOwnIn, 0, "own input page"};
  }
  c.input = in.gpa;
  c.in_where = in.where;
  c.in_off = in.off;
  c.in_kind = in.kind;
  if (s != nullptr && in.where == Where::kOwnIn && in.off % 8 == 0 && in.off + in_len <= kPage) {
    if (start_like) {
      build_start(r, w, c);
    } else {
      build_input(r, w, c, base + in.off, in_len);
    }
    c.bytes = base + in.off;
  }

  Pick out = pick_out(r, w, out_len, c);
  // hvk may write only where the guest looks: RAM the output could land in must be named.
  for (int tries = 0;
       out_len != 0 && gpa_ok(out.gpa, out_len) && !named_for(w, out.gpa, out_len) && tries < 8;
       ++tries) {
    out = pick_out(r, w, out_len, c);
  }
  if (out_len != 0 && gpa_ok(out.gpa, out_len) && !named_for(w, out.gpa, out_len)) {
    out = {reinterpret_cast<std::uint64_t>(w.out), Where::kOwnOut, 0, "own output page"};
  }
  c.output = out.gpa;
  c.out_where = out.where;
  c.out_off = out.off;
  c.out_kind = out.kind;
}

}  // namespace hostile
