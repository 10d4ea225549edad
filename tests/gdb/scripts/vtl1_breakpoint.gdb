# A breakpoint in VTL 1 code (vtl-demo's vtl1_serve) is hit in the thread of VP 0's VTL 1, whose
# registers gdb then reads.
break vtl1_serve
continue
info threads
info registers rip cs cr0 efer
delete
continue
