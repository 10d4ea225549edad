# A watchpoint on gdb-target's g_counter catches its first two writes.
watch g_counter
continue
continue
delete
continue
