# Single steps from VTL 1's vtl1_serve through the hypercall page's VtlReturn: the step that
# crosses it stops in VP 0's VTL 0 thread, at the instruction after VTL 0's VtlCall.
break vtl1_serve
continue
delete
set $vtl1 = $_thread
set $steps = 0
while $_thread == $vtl1 && $steps < 64
  stepi
  set $steps = $steps + 1
end
info threads
x/i $pc
continue
