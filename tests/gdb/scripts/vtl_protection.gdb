# Memory as a VTL sees it: the hostile guest's VTL 1 keeps its region's pages 1-16 from ever being
# written by VTL 0. VTL 0's own page 0 can be read (every byte of the region is a ret, 0xc3); VP 0's
# VTL 1 (gdb thread 3, listed after the two VTL 0 threads) reads the protected page 1; a write to it
# from VP 0's VTL 0 thread (gdb thread 1) must fail. That error ends the script, gdb detaches, and
# the guest's own hash check then proves that no protected byte changed.
# gdb exits 1
break 'hostile::vtl_storm::(anonymous namespace)::vtl0_access'
continue
delete
print/x 'hostile::vtl_storm::(anonymous namespace)::g_region'[0].b[0]
thread 3
x/1xb &'hostile::vtl_storm::(anonymous namespace)::g_region'[1]
thread 1
print/x 'hostile::vtl_storm::(anonymous namespace)::g_region'[1].b[0] = 0x55
