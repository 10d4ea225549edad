/* Shared by bench-smp's assembly and C++: plain #defines only. */
#ifndef BENCH_SMP_H
#define BENCH_SMP_H

/* Where bench_ap_entry64 stores its first TSC reading, in the first page of the VP's block (past
 * the Percpu header, which vp_blocks_init clears, so the page is already mapped). */
#define BENCH_AP_TSC_OFFSET 0x800

#endif
