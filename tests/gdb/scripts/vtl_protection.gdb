# Memory as a VTL sees it: the hostile guest's VTL 1 keeps its region's pages 1-16 from ever being
# written by VTL 0, so a write there from the VTL 0 thread that hit the breakpoint must fail (and
# the guest's hash check then proves no byte changed), while VTL 0's own page 0 can be read (every
# byte of the region is a ret, 0xc3), and VP 0's VTL 1 (gdb thread 3, listed after the two VTL 0
# threads) reads the protected page.
break 'hostile::vtl_storm::(anonymous namespace)::vtl0_access'
continue
delete
print/x 'hostile::vtl_storm::(anonymous namespace)::g_region'[1].b[0] = 0x55
print/x 'hostile::vtl_storm::(anonymous namespace)::g_region'[0].b[0]
thread 3
x/1xb &'hostile::vtl_storm::(anonymous namespace)::g_region'[1]
continue
