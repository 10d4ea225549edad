# `monitor vtl-switch stop`: vtl-demo's first VTL switch (VP 0's VtlCall into VTL 1) stops the
# machine in the thread of the VTL entered; after `monitor vtl-switch run` the guest runs to its end.
monitor vtl-switch stop
continue
info threads
monitor vtl-switch run
continue
