#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target (fuzz/corpus/<target>/seed-*).

The seeds are committed; run this again only when a harness changes the way it reads its input:
    python3 fuzz/corpus/make_seeds.py             # every target
    python3 fuzz/corpus/make_seeds.py fuzz_multiboot   # some targets
then check that the dispatcher seeds still do what their names say:
    HVK_FUZZ_VERBOSE=1 build-fuzz/fuzz/fuzz_dispatcher fuzz/corpus/fuzz_dispatcher/seed-*

fuzz_dispatcher, fuzz_start_vp_input and fuzz_cli read their input with libFuzzer's
FuzzedDataProvider: byte strings from the front, numbers from the back (the first number read is
the last byte; a number's most significant byte comes first). Fdp below writes that encoding;
the Dispatcher class mirrors fuzz_dispatcher.cc's reads one for one.
"""

import gzip
import lzma
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


class Fdp:
    """Builds an input that FuzzedDataProvider reads back as the values given, in order."""

    def __init__(self):
        self.front = bytearray()
        self.back = bytearray()  # in the order read

    def range(self, lo, hi, value, bits=64):
        assert lo <= value <= hi, (lo, hi, value)
        span, r = hi - lo, value - lo
        n = 0
        while n * 8 < bits and (span >> (n * 8)) > 0:
            n += 1
        for i in reversed(range(n)):
            self.back.append((r >> (8 * i)) & 0xFF)

    def u8(self, v):
        self.range(0, 0xFF, v, 8)

    def u16(self, v):
        self.range(0, 0xFFFF, v, 16)

    def u32(self, v):
        self.range(0, 0xFFFF_FFFF, v, 32)

    def u64(self, v):
        self.range(0, 0xFFFF_FFFF_FFFF_FFFF, v, 64)

    def bool(self, b):
        self.u8(1 if b else 0)

    def bytes(self, data):
        self.front += data

    def build(self):
        return bytes(self.front) + bytes(reversed(self.back))


# --- fuzz_dispatcher ----------------------------------------------------------------------------

CODES = [0x0D, 0x0F, 0x41, 0x42, 0x43, 0x46, 0x47, 0x50, 0x51, 0x99, 0x9A, 0x11, 0x12, 0x02,
         0x5C, 0x5D]
REGISTER_NAMES = [0x20004, 0x20010, 0x20011, 0x40000, 0x40002, 0x40003, 0x60000, 0x60001,
                  0x60002, 0x60003, 0x60004, 0x60005, 0x60006, 0x60007, 0x70000, 0x70001,
                  0x80001, 0x80004, 0xD0002, 0xD0003, 0xD0004, 0xD0005, 0xD0006, 0xD0007,
                  0xD0010]
SELF = 0  # partition_id() choice for HV_PARTITION_ID_SELF
VP_SELF = 0xFFFF_FFFE

OP_DISPATCH, OP_START, OP_HEADER, OP_RAW, OP_TRANSFER, OP_MSR, OP_INIT, OP_STATE = 0, 1, 2, 3, 5, 6, 7, 8
OP_SYNIC_MSR, OP_HOST, OP_TAKE, OP_CLOCK = 10, 11, 12, 13

# synic_msr_op's register kinds
SCONTROL, SYNIC_PAGE, EOM, SINT, STIMER_CONFIG, STIMER_COUNT = 0, 1, 3, 4, 5, 6


def end_of_ram(qwords):
    """A GPA to pass where a page is asked for: `qwords` 8-byte units before the end of the
    partition's last RAM region (gpa() choice 3)."""
    return ("end", qwords)


class Dispatcher:
    """The reads of fuzz_dispatcher.cc's Harness, with the values a seed wants."""

    def __init__(self, reps_per_entry=None, trace=False):
        self.f = Fdp()
        self.parts = []  # (vp_count, pages, max_vtl) per partition
        if reps_per_entry is None:
            self.f.range(0, 3, 0)
        else:
            self.f.range(0, 3, 2)
            self.f.range(0, 8, reps_per_entry, 16)
        self.f.bool(trace)

    def partitions(self, configs):
        """configs: dicts with vps, boot_vtl, pages, state (children: 0 active), vtl1 (enable VTL
        1 on the partition), vp_vtl1 (VPs given VTL 1), running (VPs already running), synic
        (PartitionConfig::synic, and the harness's SynIC region of 2 pages per VP and VTL)."""
        f = self.f
        f.range(0, 2, len(configs) - 1)
        for i, c in enumerate(configs):
            root = i == 0
            f.range(1, 8, c.get("vps", 4), 32)          # vp_count
            f.range(0, 3, 0)                            # default privileges
            f.range(0, 3, 0)                            # max VTL 2
            f.range(0, 2, c.get("boot_vtl", 0), 8)      # boot VTL
            f.bool(False)                               # APIC ID = VP index
            f.range(0, 3, 0)                            # 48 physical address bits
            f.bool(False)                               # no LA57
            f.range(0, 3, 0 if c.get("synic", False) else 3)  # the SynIC option
            if not root:
                f.range(0, 7, 0)                        # has memory
            f.range(1, 8 if root else 4, c.get("pages", 4))
            f.bool(False)                               # one region
            if not root:
                f.range(0, 7, 0)                        # has a backend
                if i > 1:
                    f.bool(False)                       # parent: the root
                f.range(0, 3, c.get("state", 0))        # 0 active
            # setup_vtls: VTL 1 and 2 on the partition
            vtl1 = c.get("vtl1", False) or c.get("boot_vtl", 0) >= 1
            f.bool(c.get("vtl1", False))
            f.bool(False)
            for vp in range(c.get("vps", 4)):
                boot_has_vtl1 = root and vp == 0 and c.get("boot_vtl", 0) >= 1
                if vtl1 and not boot_has_vtl1:
                    give = vp in c.get("vp_vtl1", ())
                    f.bool(give)
                    if give:
                        f.range(0, 2, 0)                # good context
                if not (root and vp == 0):
                    f.range(0, 3, 3 if vp in c.get("running", ()) else 0)
            if vtl1:
                f.range(0, 3, 0)                        # no VSM config
            self.parts.append((c.get("vps", 4), c.get("pages", 4)))

    def op(self, op):
        self.f.range(0, 13, op)

    def part(self, pi):
        self.f.range(0, len(self.parts) - 1, pi)

    def vp(self, pi, vp):
        self.f.range(0, self.parts[pi][0] - 1, vp, 32)

    def page(self, pi, page):  # gpa() choice 0: a page of the first region (or end_of_ram())
        if isinstance(page, tuple):
            self.f.range(0, 7, 3)
            self.f.range(0, 3, page[1])
            return
        self.f.range(0, 7, 0)
        self.f.range(0, self.parts[pi][1] - 1, page)

    def no_gpa(self):  # gpa() choice 7: 0
        self.f.range(0, 7, 7)

    def partition_id(self, which):  # 0 self, 1..3 that id
        self.f.range(0, 6, which)

    def vp_index(self, vp):
        if vp == VP_SELF:
            self.f.range(0, 3, 1)
        else:
            self.f.range(0, 3, 0)
            self.f.range(0, 8, vp, 32)

    def vtl(self, v):
        self.f.range(0, 4, v)

    def input_vtl(self, v=None):
        if v is None:
            self.f.range(0, 2, 0)
        else:
            self.f.range(0, 2, 1)
            self.f.range(0, 3, v, 8)

    def write_start(self, pi, page, target_pid, vp, vtl):
        """A StartVirtualProcessor/EnableVpVtl input with a good context at `page`."""
        self.op(OP_START)
        self.part(pi)
        self.page(pi, page)
        self.partition_id(target_pid)
        self.vp_index(vp)
        self.vtl(vtl)
        self.f.range(0, 7, 0)  # no pad byte
        self.f.range(0, 2, 0)  # good context

    def write_header(self, pi, page, kind, elements=(), target_pid=SELF, vp=VP_SELF, vtl=None,
                     second_pid=SELF):
        self.op(OP_HEADER)
        self.part(pi)
        self.page(pi, page)
        self.f.range(0, 7, kind)
        self.f.range(0, 8, len(elements))
        if kind in (0, 1):  # Get/SetVpRegisters
            self.partition_id(target_pid)
            self.vp_index(vp)
            self.input_vtl(vtl)
            self.f.range(0, 7, 0)
            for name in elements:
                self.f.range(0, 7, 0)
                self.f.range(0, len(REGISTER_NAMES) - 1, REGISTER_NAMES.index(name))
                if kind == 1:
                    self.f.bool(False)        # the good context's value
                    self.f.range(0, 3, 0)     # high qword from it too
        elif kind == 2:  # GetVpIndexFromApicId
            self.partition_id(target_pid)
            self.input_vtl(vtl)
            for apic in elements:
                self.f.bool(False)
                self.f.range(0, 16, apic, 32)
        elif kind == 3:  # EnablePartitionVtl
            self.partition_id(target_pid)
            self.vtl(vtl or 0)
            self.f.range(0, 7, 0)
        elif kind == 4:  # partition id alone
            self.partition_id(target_pid)
        else:  # GetNextChildPartition
            self.partition_id(target_pid)
            self.partition_id(second_pid)

    def call(self, pi, vp, code, in_page=None, out_page=None, reps=0, start=0, fast=False,
             mode=0, state=True, fast_event=None):
        """A hypercall; mode 0: 64-bit, 3: protected (32-bit convention), 4: real. fast_event:
        (connection id 0-7, flag number 0-8) for a fast SignalEvent's RDX."""
        f = self.f
        self.op(OP_DISPATCH)
        self.part(pi)
        self.vp(pi, vp)
        f.range(0, 7, mode)
        f.range(0, 7, 0)                      # CPL 0
        f.range(0, 7, 0)                      # a built control word
        f.range(0, len(CODES), CODES.index(code))
        f.range(0, 3, 3 if fast else 0)
        if reps == 0:
            f.range(0, 3, 0)
        elif start == 0:
            f.range(0, 3, 1)
            f.range(1, 8, reps, 16)
        else:
            f.range(0, 3, 2)
            f.range(1, 8, reps, 16)
            f.range(0, reps, start, 16)
        f.range(0, 7, 0)                      # no reserved bits
        for page in (in_page, out_page):
            if page is None:
                self.no_gpa()
            else:
                self.page(pi, page)
        if fast and code == 0x5D:
            f.bool(fast_event is not None)
            if fast_event is not None:
                self.small_connection_id(fast_event[0])
                self.flag_number(fast_event[1])
        f.range(0, 3, 0)                      # no junk registers
        f.range(0, 3, 0 if state else 3)      # the VP's registers offered
        f.bool(False)                         # refresh: no INIT seen

    def transfer(self, pi, vp, ret, control=0):
        self.op(OP_TRANSFER)
        self.part(pi)
        self.vp(pi, vp)
        self.f.bool(ret)
        self.f.range(0, 7, 0)
        self.f.range(0, 7, 0)
        self.f.range(0, 3, control)

    def wrmsr(self, pi, vp, offset, value):
        offsets = [0x00, 0x01, 0x02, 0x20, 0x22, 0x23, 0x73]
        self.op(OP_MSR)
        self.part(pi)
        self.vp(pi, vp)
        self.f.bool(True)
        self.f.range(0, 3, 0)
        self.f.range(0, len(offsets) - 1, offsets.index(offset))
        self.f.range(0, 2, 1)
        self.f.u64(value)

    def rdmsr(self, pi, vp, offset):
        offsets = [0x00, 0x01, 0x02, 0x20, 0x22, 0x23, 0x73]
        self.op(OP_MSR)
        self.part(pi)
        self.vp(pi, vp)
        self.f.bool(False)
        self.f.range(0, 3, 0)
        self.f.range(0, len(offsets) - 1, offsets.index(offset))

    # --- the SynIC ---

    def small_connection_id(self, cid):  # connection_id() choice 1: 0..7
        self.f.range(0, 3, 1)
        self.f.range(0, 7, cid, 32)

    def flag_number(self, flag):
        self.f.range(0, 3, 0)
        self.f.range(0, 8, flag, 16)

    def write_post_message(self, pi, page, cid, mtype, payload):
        """A PostMessage input: connection `cid` (0-7), type 1-255, the payload (<= 240 bytes)."""
        self.op(OP_HEADER)
        self.part(pi)
        self.page(pi, page)
        self.f.range(0, 7, 6)
        self.f.range(0, 8, 0)                 # no elements
        self.small_connection_id(cid)
        self.f.range(0, 7, 0)                 # RsvdZ 0
        self.f.range(0, 3, 0)
        self.f.range(1, 0xFF, mtype, 32)
        self.f.range(0, 3, 0)
        self.f.range(0, 240, len(payload), 32)
        self.f.bytes(payload)

    def write_signal_event(self, pi, page, cid, flag):
        self.op(OP_HEADER)
        self.part(pi)
        self.page(pi, page)
        self.f.range(0, 7, 7)
        self.f.range(0, 8, 0)
        self.small_connection_id(cid)
        self.flag_number(flag)
        self.f.range(0, 7, 0)                 # RsvdZ 0

    def synic_write(self, pi, vp, kind, arg=0, value=0):
        """synic_msr_op writes: SCONTROL 1; SYNIC_PAGE (arg: 1 for SIEFP) at the VP's own page,
        enabled; EOM; SINT arg with vector `value`; STIMER_CONFIG of timer arg with `value` =
        (flags 0-15, sintx); STIMER_COUNT of timer arg with `value` = ("at", delta from the clock),
        ("period", n) or ("raw", any 64-bit value)."""
        f = self.f
        self.op(OP_SYNIC_MSR)
        self.part(pi)
        self.vp(pi, vp)
        f.range(0, 3, 0)                      # a write
        f.range(0, 8, kind)
        if kind == SCONTROL:
            f.range(0, 3, 0)                  # 1
        elif kind == SYNIC_PAGE:
            f.bool(arg == 1)
            f.range(0, 3, 0)                  # its own page in the SynIC region
            f.range(0, 3, 0)                  # enabled
        elif kind == EOM:
            f.bool(False)
        elif kind == SINT:
            f.range(0, 15, arg, 32)
            f.range(0, 3, 0)
            f.range(16, 255, value)
            f.range(0, 3, 0)                  # not masked
            f.bool(False)                     # no AutoEOI
        elif kind == STIMER_CONFIG:
            f.range(0, 3, arg, 32)
            f.range(0, 3, 0)
            f.u8(value[0])
            f.range(0, 15, value[1], 32)
            f.range(0, 3, 0)                  # not direct
        elif kind == STIMER_COUNT:
            f.range(0, 3, arg, 32)
            how, n = value
            if how == "at":
                f.range(0, 3, 0)
                f.range(0, 100_000, n)
            elif how == "raw":
                f.range(0, 3, 3)
                f.u64(n)
            else:
                f.range(0, 3, 1)
                f.range(1, 100_000, n)

    def connect(self, pi, cid, target, vp, sint, vtl=0, event=None):
        """A host connection of partition pi: id cid (0-7) to (target, vp, vtl, sint); event:
        (flag base, flag count 1-8) for an event port, None for a message port (port id = id)."""
        f = self.f
        self.op(OP_HOST)
        self.part(pi)
        f.range(0, 3, 0)                      # connect
        f.bool(event is not None)
        f.range(0, 3, 0)
        f.range(0, 7, cid, 32)
        self.part(target)
        f.range(0, 7, 0)
        self.vp(target, vp)
        f.range(0, 7, 0)
        f.range(0, 2, vtl, 8)
        f.range(0, 7, 0)
        f.range(0, 15, sint, 8)
        f.bool(False)                         # port id = connection id
        if event is not None:
            f.range(0, 3, 0)
            f.range(0, 2047, event[0], 16)
            f.range(1, 8, event[1], 16)

    def take(self, pi, vp, sint, how=0):
        """The guest's message handler: 0 take SINT `sint` and EOM, 1 without EOM, 2 EOM only,
        3 every SINT and EOM."""
        self.op(OP_TAKE)
        self.part(pi)
        self.vp(pi, vp)
        self.f.range(0, 3, how)
        self.f.range(0, 15, sint, 32)

    def clock(self, pi, vp, advance, vtl=0):
        """Moves the clock by `advance` (<= 10^7) and polls (pi, vp, vtl)."""
        self.op(OP_CLOCK)
        self.f.range(0, 3, 1)
        self.f.range(0, 10_000_000, advance)
        self.part(pi)
        self.vp(pi, vp)
        self.f.range(0, 2, vtl, 8)

    def init(self, pi, vp):
        self.op(OP_INIT)
        self.part(pi)
        self.vp(pi, vp)

    def build(self):
        return self.f.build()


def dispatcher_seeds():
    seeds = {}

    # Root with 4 VPs: start VPs 1-3 (SUCCESS), start VP 1 again (INVALID_VP_STATE), INIT it and
    # start it once more (SUCCESS), then GetVpIndexFromApicId over all four.
    d = Dispatcher()
    d.partitions([{"vps": 4, "pages": 4}])
    for vp in (1, 2, 3):
        d.write_start(0, 2, SELF, vp, 0)
        d.call(0, 0, 0x99, in_page=2)
    d.write_start(0, 2, SELF, 1, 0)
    d.call(0, 0, 0x99, in_page=2)
    d.init(0, 1)
    d.call(0, 0, 0x99, in_page=2)
    d.write_header(0, 1, 2, elements=(0, 1, 2, 3))
    d.call(0, 0, 0x9A, in_page=1, out_page=3, reps=4)
    seeds["seed-start-aps"] = d.build()

    # VSM: VTL 1 enabled on the partition and on VP 1; starting VP 1 in VTL 0 runs VTL 1 first.
    # EnableVpVtl gives VP 2 VTL 1 from VTL 1 (after a VtlCall), then VP 2 is started in VTL 1;
    # VtlReturn back to VTL 0. The same in 32-bit protected mode for VP 3.
    d = Dispatcher()
    d.partitions([{"vps": 4, "pages": 4, "boot_vtl": 1, "vp_vtl1": (1,)}])
    d.write_start(0, 2, SELF, 1, 0)
    d.call(0, 0, 0x99, in_page=2)
    d.write_start(0, 2, SELF, 2, 1)
    d.call(0, 0, 0x0F, in_page=2)
    d.call(0, 0, 0x99, in_page=2)
    d.write_start(0, 2, SELF, 3, 0)
    d.call(0, 0, 0x99, in_page=2, mode=3)
    d.transfer(0, 0, True)
    d.transfer(0, 0, False)
    seeds["seed-vsm-start"] = d.build()

    # A child partition: the root starts its VPs 0 and 1, lists it, finalizes and deletes it.
    d = Dispatcher()
    d.partitions([{"vps": 2, "pages": 4}, {"vps": 2, "pages": 2, "state": 0}])
    d.write_start(0, 2, 2, 0, 0)
    d.call(0, 0, 0x99, in_page=2)
    d.write_start(0, 2, 2, 1, 0)
    d.call(0, 0, 0x99, in_page=2)
    d.call(1, 1, 0x46, out_page=1)
    d.write_header(0, 1, 5, target_pid=SELF, second_pid=4)
    d.call(0, 0, 0x47, in_page=1, out_page=3)
    d.write_header(0, 1, 4, target_pid=2)
    d.call(0, 0, 0x42, in_page=1)
    d.call(0, 0, 0x43, in_page=1)
    seeds["seed-child"] = d.build()

    # Registers: GetVpRegisters of VP 0's own RIP/CR3/CS and the VSM status, SetVpRegisters of
    # RIP, with rep pauses (one element per entry).
    d = Dispatcher(reps_per_entry=1, trace=True)
    d.partitions([{"vps": 2, "pages": 4}])
    d.write_header(0, 1, 0, elements=(0x20010, 0x40002, 0x60001, 0xD0003))
    d.call(0, 0, 0x50, in_page=1, out_page=2, reps=4)
    d.write_header(0, 1, 1, elements=(0x20010, 0x20004))
    d.call(0, 0, 0x51, in_page=1, reps=2)
    d.write_start(0, 2, SELF, 1, 0)
    d.call(0, 0, 0x99, in_page=2, state=False)
    seeds["seed-registers"] = d.build()

    # Synthetic MSRs: guest OS id, the hypercall page enabled and locked, VP_INDEX read; then a
    # fast call with a real-mode #UD beside it.
    d = Dispatcher()
    d.partitions([{"vps": 2, "pages": 4}])
    d.wrmsr(0, 0, 0x00, 0x8100_0000_0000_0000)
    d.wrmsr(0, 0, 0x01, 0x3003)
    d.wrmsr(0, 1, 0x01, 0x2001)
    d.rdmsr(0, 1, 0x02)
    d.call(0, 0, 0x46, out_page=1)
    d.call(0, 0, 0x46, out_page=1, mode=4)
    d.call(0, 0, 0x43, fast=True)
    seeds["seed-msrs"] = d.build()

    # Inputs and outputs in the last bytes of RAM: a child is initialized, listed and finalized
    # with its inputs ending exactly at the end of the root's RAM (SUCCESS; a read of the absent
    # rep elements once refused these), then GetPartitionId's output one qword past the end
    # (INVALID_ALIGNMENT) and in the last qword (SUCCESS).
    d = Dispatcher()
    d.partitions([{"vps": 2, "pages": 4}, {"vps": 1, "pages": 2, "state": 1}])
    d.write_header(0, end_of_ram(1), 4, target_pid=2)
    d.call(0, 0, 0x41, in_page=end_of_ram(1))
    d.write_header(0, end_of_ram(2), 5, target_pid=SELF, second_pid=4)
    d.call(0, 0, 0x47, in_page=end_of_ram(2), out_page=1)
    d.write_header(0, end_of_ram(1), 4, target_pid=2)
    d.call(0, 0, 0x42, in_page=end_of_ram(1))
    d.call(0, 1, 0x46, out_page=end_of_ram(0))
    d.call(0, 1, 0x46, out_page=end_of_ram(1))
    seeds["seed-input-at-end-of-ram"] = d.build()

    # The SynIC: VP 0 enables its SIM and SIEF pages and SINTs 2 and 3; the host connects message
    # id 1 to SINT 2 and event id 2 to SINT 3 (flags 5-8). VP 1 posts three messages (the first
    # is delivered, the others queue behind the busy slot with MessagePending), VP 0 takes them
    # with EOM one by one; then SignalEvent from memory and as a fast call, and a fast
    # PostMessage (INVALID_HYPERCALL_INPUT).
    d = Dispatcher()
    d.partitions([{"vps": 2, "pages": 4, "synic": True}])
    d.synic_write(0, 0, SYNIC_PAGE, 0)
    d.synic_write(0, 0, SYNIC_PAGE, 1)
    d.synic_write(0, 0, SCONTROL)
    d.synic_write(0, 0, SINT, 2, 0x40)
    d.synic_write(0, 0, SINT, 3, 0x41)
    d.connect(0, 1, 0, 0, 2)
    d.connect(0, 2, 0, 0, 3, event=(5, 4))
    d.write_post_message(0, 1, 1, 7, b"hello, SynIC\0\0\0\0")
    for _ in range(3):
        d.call(0, 1, 0x5C, in_page=1)
    d.take(0, 0, 2)
    d.take(0, 0, 2)
    d.take(0, 0, 2)
    d.write_signal_event(0, 2, 2, 1)
    d.call(0, 1, 0x5D, in_page=2)
    d.call(0, 1, 0x5D, in_page=2)
    d.call(0, 1, 0x5D, fast=True, fast_event=(2, 3))
    d.call(0, 1, 0x5C, fast=True)
    seeds["seed-synic-messages"] = d.build()

    # Buffers: 18 posts to a SINT whose slot is never emptied; the 18th is INSUFFICIENT_BUFFERS
    # (the slot and 16 queued), then the guest drains everything with EOMs.
    d = Dispatcher()
    d.partitions([{"vps": 1, "pages": 2, "synic": True}])
    d.synic_write(0, 0, SYNIC_PAGE, 0)
    d.synic_write(0, 0, SCONTROL)
    d.synic_write(0, 0, SINT, 4, 0x30)
    d.connect(0, 3, 0, 0, 4)
    d.write_post_message(0, 1, 3, 0x42, bytes(range(240)))
    for _ in range(18):
        d.call(0, 0, 0x5C, in_page=1)
    for _ in range(18):
        d.take(0, 0, 4)
    seeds["seed-synic-queue-full"] = d.build()

    # Messages from the root to a child's VP 1 (the child enables its SynIC), and events too.
    d = Dispatcher()
    d.partitions([{"vps": 1, "pages": 2, "synic": True},
                  {"vps": 2, "pages": 2, "state": 0, "synic": True}])
    d.synic_write(1, 1, SYNIC_PAGE, 0)
    d.synic_write(1, 1, SYNIC_PAGE, 1)
    d.synic_write(1, 1, SCONTROL)
    d.synic_write(1, 1, SINT, 5, 0x99)
    d.connect(0, 0, 1, 1, 5)
    d.connect(0, 0, 1, 1, 5, event=(2040, 8))
    d.write_post_message(0, 1, 0, 0x11, b"to the child")
    d.call(0, 0, 0x5C, in_page=1)
    d.call(0, 0, 0x5D, fast=True, fast_event=(0, 7))
    d.take(1, 1, 5)
    seeds["seed-synic-child"] = d.build()

    # Timers: a one-shot 500 ticks ahead on SINT 1 fires when the clock passes it; a periodic
    # one (period 300) fires, its tick into the busy slot is dropped, and fires again after EOM.
    d = Dispatcher()
    d.partitions([{"vps": 1, "pages": 2, "synic": True}])
    d.synic_write(0, 0, SYNIC_PAGE, 0)
    d.synic_write(0, 0, SCONTROL)
    d.synic_write(0, 0, SINT, 1, 0x50)
    d.synic_write(0, 0, STIMER_CONFIG, 0, (0x1, 1))
    d.synic_write(0, 0, STIMER_COUNT, 0, ("at", 500))
    d.clock(0, 0, 1000)
    d.take(0, 0, 1)
    d.synic_write(0, 0, STIMER_CONFIG, 2, (0x3, 1))
    d.synic_write(0, 0, STIMER_COUNT, 2, ("period", 300))
    d.clock(0, 0, 400)
    d.clock(0, 0, 400)
    d.take(0, 0, 1)
    d.clock(0, 0, 400)
    d.take(0, 0, 1)
    seeds["seed-synic-timers"] = d.build()

    # The first finding of the SynIC steps: a periodic timer whose period carries the deadline
    # past 2^64 wrapped to a time already gone and stayed due at every poll (fixed in stimer.cc;
    # Stimer.PeriodPastTheEndOfTimeNeverExpires).
    d = Dispatcher()
    d.partitions([{"vps": 1, "pages": 2, "synic": True}])
    d.synic_write(0, 0, SYNIC_PAGE, 0)
    d.synic_write(0, 0, SCONTROL)
    d.synic_write(0, 0, SINT, 1, 0x50)
    d.synic_write(0, 0, STIMER_CONFIG, 2, (0x3, 1))
    d.synic_write(0, 0, STIMER_COUNT, 2, ("raw", 0xFFFF_FFFF_FFFF_FFFF))
    d.clock(0, 0, 1000)
    d.synic_write(0, 0, STIMER_COUNT, 2, ("raw", 0xFFFF_FFFF_FFFF_FFFF - 3000))
    d.clock(0, 0, 5000)
    seeds["seed-synic-period-wraps"] = d.build()
    return seeds


# --- fuzz_start_vp_input -------------------------------------------------------------------------

def segment(base, limit, selector, attributes):
    return struct.pack("<QIHH", base, limit, selector, attributes)


def table(limit, base):
    return struct.pack("<3HHQ", 0, 0, 0, limit, base)


def linux_ap_context(rip=0xFFFF_FFFF_8100_0000, rsp=0xFFFF_C900_0000_8000):
    cs = segment(0, 0xFFFF_FFFF, 0x10, 0xA09B)
    ss = segment(0, 0xFFFF_FFFF, 0x18, 0xC093)
    return (struct.pack("<QQQ", rip, rsp, 0x2) + cs + ss + ss + ss + ss + ss +
            segment(0, 0x67, 0x40, 0x8B) + segment(0, 0, 0, 0x82) +
            table(0xFFF, 0xFFFF_FFFF_FF57_9000) + table(0x7F, 0xFFFF_8880_0000_1000) +
            struct.pack("<QQQQQ", 0xD01, 0x8005_0033, 0x0100_0000, 0x6B0, 0x0007_0406_0007_0406))


def protected_context():
    cs = segment(0, 0xFFFF_FFFF, 0x08, 0xC09B)
    ds = segment(0, 0xFFFF_FFFF, 0x10, 0xC093)
    return (struct.pack("<QQQ", 0x10_0000, 0x7000, 0x2) + cs + ds + ds + ds + ds + ds +
            segment(0, 0x67, 0x18, 0x8B) + segment(0, 0, 0, 0x82) +
            table(0, 0) + table(0x1F, 0x1000) +
            struct.pack("<QQQQQ", 0, 0x11, 0, 0, 0x0007_0406_0007_0406))


def start_input(context, vp=1, vtl=0, pid=0xFFFF_FFFF_FFFF_FFFF):
    data = struct.pack("<QIB3x", pid, vp, vtl) + context
    assert len(data) == 240
    return data


def start_vp_seed(context, calls):
    f = Fdp()
    f.bytes(start_input(context))
    f.u8(48)            # physical address bits
    f.bool(False)       # no LA57
    f.bytes(bytes(144 + 312 + 24))  # kvm_regs, kvm_sregs, kvm_segment
    f.range(0, 300, 300, 64)        # describe buffer size
    f.bool(True)        # default privileges
    f.range(0, 2, 0, 8)  # boot VTL 0
    n_calls = 11
    for index, rep, payload in calls:
        f.range(0, n_calls - 1, index)
        if rep:
            f.range(1, 8, rep)
        f.bytes(payload)
        f.range(0, 300, 200, 64)
        f.bool(True)     # the root
        f.range(0, 3, 0, 32)  # VP 0
        f.bool(True)     # with its registers
    return f.build()


def start_vp_seeds():
    good = linux_ap_context()
    hdr_regs = struct.pack("<QIB3x", 0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFE, 0)
    return {
        "seed-linux-ap": start_vp_seed(good, [
            (0, 0, start_input(good, vp=2)),
            (8, 2, hdr_regs + struct.pack("<II", 0x20010, 0x60001)),
            (1, 2, struct.pack("<QB7x", 0xFFFF_FFFF_FFFF_FFFF, 0) + struct.pack("<II", 0, 3)),
            (10, 0, b""),
        ]),
        "seed-protected": start_vp_seed(protected_context(), [
            (7, 0, start_input(protected_context(), vp=3, vtl=1)),
            (6, 0, struct.pack("<QBB6x", 0xFFFF_FFFF_FFFF_FFFF, 1, 0)),
        ]),
        "seed-bad-context": start_vp_seed(linux_ap_context(rip=0x0000_8000_0000_0000), [
            (9, 1, hdr_regs + struct.pack("<IIQQQ", 0x20010, 0, 0, 0x0000_8000_0000_0000, 0)),
        ]),
    }


# --- fuzz_elf_loader -----------------------------------------------------------------------------

def elf64(segments, entry, phentsize=56, extra_phdrs=()):
    """ET_EXEC x86-64 image: header, program headers, then each segment's bytes.
    segments: (paddr, data, memsz, flags)."""
    phnum = len(segments) + len(extra_phdrs)
    phoff = 64
    offset = phoff + phnum * phentsize
    phdrs, body = b"", b""
    for paddr, data, memsz, flags in segments:
        phdrs += struct.pack("<IIQQQQQQ", 1, flags, offset + len(body), paddr, paddr, len(data),
                             memsz, 0x1000).ljust(phentsize, b"\0")
        body += data
    for p_type in extra_phdrs:  # e.g. PT_NOTE, PT_GNU_STACK with nothing to load
        phdrs += struct.pack("<IIQQQQQQ", p_type, 4, 0, 0, 0, 0, 0, 8).ljust(phentsize, b"\0")
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, entry, phoff, 0, 0, 64, phentsize,
                                 phnum, 64, 0, 0)
    assert len(header) == 64
    return header + phdrs + body


def loader_input(image, cmdline=b"", options=0):
    return image + cmdline + struct.pack("<HB", len(cmdline), options)


# hlt; jmp $-1: what the smallest guest does.
CODE = b"\xf4\xeb\xfd" + b"\x90" * 13


def loader_seeds():
    mib = 0x10_0000
    return {
        "seed-minimal": loader_input(elf64([(mib, CODE, 0x1000, 5)], mib), b"console=ttyS0"),
        "seed-text-data-bss": loader_input(
            elf64([(mib, CODE, 0x1000, 5), (mib + 0x2000, b"\x01" * 64, 0x3000, 6)], mib + 8,
                  extra_phdrs=(4, 0x6474E551)),
            b"hvk.child=2,0x100000 quiet", options=0x19),  # 8 MiB, setup_data chain as head
        "seed-top-of-ram": loader_input(
            elf64([(3 * mib - 0x1000, CODE, 0x1000, 5)], 3 * mib - 0x1000), b"", options=2),
        "seed-wide-phdrs": loader_input(
            elf64([(2 * mib, CODE, 0x200000, 7)], 2 * mib + 4, phentsize=64), b"x" * 100,
            options=0x01),
    }


# --- fuzz_bzimage --------------------------------------------------------------------------------

def compress(method, data):
    """A payload as the kernel's build makes it: the compressed vmlinux, then its size (le32)."""
    if method == "gzip":
        body = gzip.compress(data, mtime=0)
    elif method == "xz":
        body = lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)
    elif method == "lzma":
        body = lzma.compress(data, format=lzma.FORMAT_ALONE)
    elif method == "zstd":  # no zstd module in Debian's python3: the zstd program
        body = subprocess.run(["zstd", "-q", "-19", "-c"], input=data, check=True,
                              stdout=subprocess.PIPE).stdout
    else:  # an LZ4 frame header: a method hvk does not unpack
        body = b"\x02\x21\x4c\x18" + data
    return body + struct.pack("<I", len(data))


def bzimage(payload, setup_sects=1, version=0x020F, xloadflags=1, pref=0x10_0000,
            init_size=0x2_0000, header_len=0x6A):
    """A bzImage (boot.rst): boot sector and setup sectors holding the setup header, then the
    protected-mode kernel: startup_32's 512 bytes, startup_64 (hlt), the payload."""
    setup = bytearray((max(setup_sects, 4) if setup_sects == 0 else setup_sects) * 512 + 512)
    kernel = b"\x90" * 0x200 + CODE
    kernel += b"\0" * (-len(kernel) % 16)
    struct.pack_into("<B", setup, 0x1F1, setup_sects)
    struct.pack_into("<H", setup, 0x1FE, 0xAA55)
    struct.pack_into("<BB", setup, 0x200, 0xEB, header_len)  # jmp over the header
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, version)
    struct.pack_into("<I", setup, 0x230, 0x20_0000)  # kernel_alignment
    struct.pack_into("<B", setup, 0x234, 1)  # relocatable_kernel
    struct.pack_into("<H", setup, 0x236, xloadflags)
    struct.pack_into("<II", setup, 0x248, len(kernel), len(payload))
    struct.pack_into("<QI", setup, 0x258, pref, init_size)
    return bytes(setup) + kernel + payload


def bzimage_seeds():
    mib = 0x10_0000
    vmlinux = elf64([(mib, CODE, 0x1000, 5), (mib + 0x2000, b"\x01" * 64, 0x3000, 6)], mib)
    # options: bits 0-2 RAM (0: 4 MiB, 1: 8 MiB, 3: 16 MiB), 8 unpack, 0x10/0x20/0x30 initrd
    # (4 KiB, the image's first 64 KiB, RAM-sized), 0x40 a command line.
    return {
        "seed-gzip-boot": bzimage(compress("gzip", vmlinux)) + bytes([0x40]),
        "seed-gzip-unpack": bzimage(compress("gzip", vmlinux)) + bytes([0x48]),
        "seed-xz-unpack-initrd": bzimage(compress("xz", vmlinux)) + bytes([0x18]),
        "seed-lzma-unpack": bzimage(compress("lzma", vmlinux)) + bytes([0x09]),
        "seed-zstd-unpack-initrd": bzimage(compress("zstd", vmlinux)) + bytes([0x2B]),
        "seed-zstd-boot-initrd": bzimage(compress("zstd", vmlinux), pref=2 * mib,
                                         init_size=0x10_0000) + bytes([0x51]),
        "seed-lz4-unpack": bzimage(compress("lz4", vmlinux)) + bytes([0x08]),
        "seed-four-setup-sects": bzimage(compress("xz", vmlinux), setup_sects=0) + bytes([0x40]),
        "seed-initrd-too-large": bzimage(compress("gzip", vmlinux)) + bytes([0x30]),
    }


# --- fuzz_multiboot ------------------------------------------------------------------------------

MB_MAGIC = 0x1BADB002


def mb_header(flags, kludge=()):
    """A Multiboot header: magic, flags, checksum (the three sum to 0 mod 2^32), then the a.out
    kludge's words (header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr)."""
    return struct.pack("<III", MB_MAGIC, flags, (-(MB_MAGIC + flags)) & 0xFFFF_FFFF) + b"".join(
        struct.pack("<I", w) for w in kludge)


def elf32(segments, entry):
    """ET_EXEC i386 image like a kvm-unit-tests .flat: header, program headers, then each
    segment's bytes. segments: (paddr, data, memsz, flags, vaddr or None)."""
    phoff = 52
    offset = phoff + len(segments) * 32
    phdrs, body = b"", b""
    for paddr, data, memsz, flags, vaddr in segments:
        phdrs += struct.pack("<IIIIIIII", 1, offset + len(body), vaddr or paddr, paddr, len(data),
                             memsz, flags, 0x1000)
        body += data
    ident = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, entry, phoff, 0, 0, 52, 32,
                                 len(segments), 40, 0, 0)
    assert len(header) == 52
    return header + phdrs + body


def multiboot_seeds():
    mib = 0x10_0000
    # The text starts with the header (flags 0, like kvm-unit-tests'; 3: page-aligned modules and
    # memory information), then code.
    text = mb_header(0) + CODE
    text3 = mb_header(3) + CODE
    # options: bits 0-2 RAM (0: 4 MiB, 1: 8 MiB, 2: 3 MiB, 4: 5 MiB + 0x7b), 0x08/0x10/0x18 the
    # module (4 KiB, the image's first 64 KiB, RAM-sized), 0x20 a module name, 0x40 prepare_boot,
    # 0x80 an image name before the command line.
    raw = bytearray(b"\x90" * 0x300)
    raw[0x40:0x60] = mb_header(0x10003, (mib + 0x40, mib, mib + 0x200, mib + 0x3000, mib + 0x60))
    kludge_text = bytearray(text)
    kludge_text[:32] = mb_header(0x10000, (3 * mib, 3 * mib, 0, 3 * mib + 0x2000, 3 * mib + 12))
    return {
        "seed-elf32-text-data-bss": loader_input(
            elf32([(4 * mib, text, len(text), 5, None), (4 * mib + 0x1000, b"\x01" * 64, 0x4000, 6,
                                                         None)], 4 * mib + 12),
            b"console=ttyS0 x", options=0xA9),  # 8 MiB, a 4 KiB module with a name, image name
        "seed-elf64": loader_input(elf64([(2 * mib, text3, 0x1000, 5)], 2 * mib + 12), b"",
                                   options=0x00),
        "seed-kludge-raw": loader_input(bytes(raw), b"a b c", options=0x34),  # first 64 KiB, name
        "seed-kludge-in-elf32": loader_input(
            elf32([(2 * mib, bytes(kludge_text), len(kludge_text), 5, None)], 2 * mib), b"",
            options=0x01),
        "seed-virtual-entry": loader_input(
            elf32([(mib, text3, 0x2000, 7, 0xC010_0000)], 0xC010_000C), b"", options=0x02),
        "seed-module-too-large": loader_input(
            elf32([(mib, text3, 0x1000, 5, None)], mib + 12), b"", options=0x18),
        "seed-video-refused": loader_input(
            elf32([(mib, mb_header(7) + CODE, 0x1000, 5, None)], mib + 12), b"", options=0x00),
        "seed-prepare-boot": loader_input(
            elf32([(mib, text3, 0x1000, 5, None)], mib + 12), b"quiet", options=0xE1),
    }


# --- fuzz_cli ------------------------------------------------------------------------------------

def cli_seeds():
    seeds = {}
    for i, (text, mode) in enumerate([
            (b"256M", 0), (b"1G", 0), (b"4096", 1), (b"18446744073709551615", 0),
            (b"0x2000000000000", 0), (b"0755", 1),
            (b"VpIndex,-AccessVsm,+CpuManagement", 0), (b"none,default,-StartVirtualProcessor", 1),
            (b"HypercallMsrs,", 0)]):
        seeds[f"seed-{i:02d}"] = text + bytes([mode])
    # The grammar mode: "none,+VpIndex,-VpIndex,default" style lists.
    f = Fdp()
    f.range(0, 3, 2)
    f.range(0, 12, 4)
    for name_index, op in ((6, 0), (6, 3), (24, 4), (28, 2)):
        f.range(0, 29, name_index)
        f.range(0, 4, op)
    seeds["seed-grammar"] = f.build()
    f = Fdp()
    f.range(0, 3, 3)
    f.u64(0x1234_5678_9ABC)
    f.range(0, 63, 4)
    f.range(0, 6, 3)
    f.range(0, 3, 1)
    seeds["seed-roundtrip"] = f.build()
    return seeds


# --- fuzz_gdb_packet -----------------------------------------------------------------------------

def gdb_frame(payload):
    """A packet as gdb sends it: '$', the payload with '$', '#', '}' and '*' escaped ('}' then the
    byte xor 0x20), '#', and the checksum of the escaped body as two hex digits."""
    if isinstance(payload, str):
        payload = payload.encode()
    body = bytearray()
    for c in payload:
        if c in b"$#}*":
            body += bytes([0x7D, c ^ 0x20])
        else:
            body.append(c)
    return b"$" + bytes(body) + b"#%02x" % (sum(body) & 0xFF)


def gdb_packet_seeds():
    # The input is the byte stream from gdb (each packet acknowledged with '+' the way gdb does
    # until QStartNoAckMode); its last byte chooses where the harness splits it into two reads.
    f = gdb_frame
    regs = (bytes(range(256)) * 3)[:688]  # a whole 'G' register file, gdb_regs order
    return {
        "seed-handshake": b"+" + f("qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;"
                                   "fork-events+;vfork-events+;exec-events+;vContSupported+;"
                                   "QThreadEvents+;no-resumed+;xmlRegisters=i386")
                          + b"+" + f("vMustReplyEmpty") + b"+" + f("QStartNoAckMode") + b"+",
        "seed-target-xml": f("qXfer:features:read:target.xml:0,ffb")
                           + f("qXfer:features:read:target.xml:ffb,ffb"),
        "seed-threads": b"".join(f(p) for p in (
            "Hg0", "qTStatus", "?", "qfThreadInfo", "qsThreadInfo", "qAttached:1", "Hc-1", "qC",
            "qOffsets", "qSymbol::", "qThreadExtraInfo,11", "T21", "Hg12")),
        "seed-interrupt": b"\x03",
        "seed-vcont": f("vCont?") + f("vCont;s:1;c") + b"\x03" + f("vCont;C05:11;c")
                      + f("vCont;t:1"),
        "seed-old-resume": f("Hc1") + f("s") + f("c100000") + f("s100004"),
        "seed-breakpoints": b"".join(f(p) for p in (
            "Z0,100010,1", "z0,100010,1", "Z1,100020,1", "Z2,200000,8", "Z3,200008,4",
            "z4,200000,4;X3,220100")),
        "seed-read-memory": f("m100000,40") + f("mffffffff81000000,1000"),
        "seed-write-memory-hex": f("M100000,4:cc909090"),
        "seed-write-memory-binary": f("X100000,0:") + f(b"X100000,6:$#}*\x00\x03"),
        "seed-registers": f("g") + f("G" + regs.hex()),
        "seed-one-register": b"".join(f(p) for p in (
            "p10", "P10=0000100000000000", "p11", "P11=46020000", "p4d", "P4d=3412000000000000",
            "P12=1000")),
        "seed-monitor": f("qRcmd," + b"vps".hex()) + f("qRcmd,"),
        "seed-detach-kill": f("D;1") + f("k") + f("vKill;1"),
        "seed-bad-checksum": b"$g#00-" + f("g") + b"$g#6G" + b"$m1000,4" + f("c"),
        "seed-oversized": f("M0,800:" + "00" * 0x800) + f("g"),
    }


def write(target, seeds):
    directory = os.path.join(HERE, target)
    os.makedirs(directory, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)


TARGETS = {
    "fuzz_dispatcher": dispatcher_seeds,
    "fuzz_start_vp_input": start_vp_seeds,
    "fuzz_elf_loader": loader_seeds,
    "fuzz_bzimage": bzimage_seeds,
    "fuzz_multiboot": multiboot_seeds,
    "fuzz_cli": cli_seeds,
    "fuzz_gdb_packet": gdb_packet_seeds,
}

if __name__ == "__main__":
    for name in sys.argv[1:] or TARGETS:
        if name not in TARGETS:
            sys.exit(f"make_seeds.py: no target {name!r} (targets: {', '.join(TARGETS)})")
        write(name, TARGETS[name]())
