# Attach and let the guest run to its end.
continue
