# Ctrl-C stops every VP of a running guest: two seconds into the run gdb gets SIGINT, as from a
# terminal, and sends the interrupt byte; every thread's registers can then be read, and the
# guest runs on to its end.
shell (sleep 2; kill -INT $PPID) &
continue
info threads
thread apply all p $pc
continue
