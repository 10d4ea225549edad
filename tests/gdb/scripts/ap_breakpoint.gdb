# A breakpoint at smp-demo's AP entry is hit on VP 1 after the boot VP starts it with
# HvCallStartVirtualProcessor.
break '(anonymous namespace)::ap_main'
continue
info threads
delete
continue
