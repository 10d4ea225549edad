# The Linux VTL kernel under gdb (tests/linux/CMakeLists.txt, docs/debugging.md): hardware
# breakpoints (they need no page tables: set before the kernel has its own) where VP 0's VTL 2
# starts VP 1 with HvCallStartVirtualProcessor, and where VP 1's VTL 2 then begins; then it runs on.
hbreak hv_vtl_wakeup_secondary_cpu
continue
info threads
delete
hbreak hv_vtl_ap_entry
continue
info threads
x/i $pc
delete
continue
