# gdb writes g_poke at gdb_poke_point; the guest prints what it then reads. The guest's own int3,
# which runs while this breakpoint is in, must still reach the guest's #BP handler.
break gdb_poke_point
continue
set var g_poke = 0x1234
delete
continue
