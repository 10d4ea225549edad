// hvk-init: the /init of hvk's VTL-mode test kernel (linux/vtl.config, scripts/build-vtl-kernel).
//
// It mounts proc and sysfs, prints how many CPUs are online, then for every online CPU what user
// space can see of it: the /proc/cpuinfo processor and APIC ID lines, and what CPUID says when the
// program is pinned to that CPU (initial and x2APIC IDs, the hypervisor signature and the Hyper-V
// privilege and feature leaves). It also echoes the kernel's own log lines about VTLs and Hyper-V,
// since the VTL a CPU runs in is not visible to user space. Then it powers the machine off.
//
// Every line it prints starts with "hvk-init: ". Exit: a kernel with ACPI (/sys/firmware/acpi)
// powers off, through hvk's ACPI sleep register. A kernel without ACPI has no power-off method
// (Linux would turn it into a halt with every CPU stopped, and the VM would never end), so it
// reboots instead: Linux resets through the keyboard controller (port 0x64), which ends hvk's run
// with status 0. "hvk-init=poweroff", "hvk-init=reboot" and "hvk-init=halt" on the kernel command
// line choose reboot(RB_POWER_OFF), reboot(RB_AUTOBOOT) or reboot(RB_HALT_SYSTEM) instead.
//
// Built freestanding against the kernel tree's nolibc (tools/include/nolibc), so it needs no C
// library and runs on a kernel without futexes, multi-user support or a dynamic loader; it also
// builds against glibc (gcc -static) for a quick run on a development host, where it is not PID 1
// and so mounts nothing and does not reboot.

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifndef NOLIBC  // nolibc's <stdio.h> above brought in everything it has
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#endif

#define MAX_CPUS 1024

static long raw_syscall3(long nr, long a, long b, long c)
{
#ifdef NOLIBC
    return my_syscall3(nr, a, b, c);
#else
    long r = syscall(nr, a, b, c);
    return r < 0 ? -errno : r;
#endif
}

static char buf[1 << 16];

// Reads a whole file into dst (NUL-terminated, cut at size - 1 bytes); returns its length or -1.
static int slurp_into(const char *path, char *dst, int size)
{
    int fd = open(path, O_RDONLY, 0);
    if (fd < 0)
        return -1;
    int len = 0;
    while (len < size - 1) {
        int n = read(fd, dst + len, size - 1 - len);
        if (n <= 0)
            break;
        len += n;
    }
    close(fd);
    dst[len] = 0;
    return len;
}

static int slurp(const char *path) { return slurp_into(path, buf, sizeof buf); }

static const char *find(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncmp(hay, needle, n) == 0)
            return hay;
    return 0;
}

static void cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

// Parses a CPU list such as "0-3,5,8-9" into online[]; returns the number of CPUs in it.
static int parse_cpu_list(const char *s, unsigned char *online)
{
    int count = 0;
    while (*s >= '0' && *s <= '9') {
        char *end;
        long lo = strtol(s, &end, 10), hi = lo;
        s = end;
        if (*s == '-') {
            hi = strtol(s + 1, &end, 10);
            s = end;
        }
        for (long c = lo; c <= hi && c < MAX_CPUS; c++) {
            if (!online[c])
                count++;
            online[c] = 1;
        }
        if (*s == ',')
            s++;
    }
    return count;
}

// The /proc/cpuinfo "apicid" and "initial apicid" of each processor, read once.
static long cpuinfo_apicid[MAX_CPUS], cpuinfo_initial_apicid[MAX_CPUS];
static int have_cpuinfo = -1;

static long field_value(const char *line)
{
    const char *colon = strchr(line, ':');
    return colon ? strtol(colon + 1, 0, 10) : -1;
}

static void read_cpuinfo(void)
{
    static char info[1 << 21];  // about 1.5 KiB a CPU
    for (int i = 0; i < MAX_CPUS; i++)
        cpuinfo_apicid[i] = cpuinfo_initial_apicid[i] = -1;
    have_cpuinfo = slurp_into("/proc/cpuinfo", info, sizeof info) > 0;
    long cpu = -1;
    for (const char *line = info; have_cpuinfo && *line;) {
        if (strncmp(line, "processor", 9) == 0)
            cpu = field_value(line);
        else if (cpu >= 0 && cpu < MAX_CPUS && strncmp(line, "apicid", 6) == 0)
            cpuinfo_apicid[cpu] = field_value(line);
        else if (cpu >= 0 && cpu < MAX_CPUS && strncmp(line, "initial apicid", 14) == 0)
            cpuinfo_initial_apicid[cpu] = field_value(line);
        const char *nl = strchr(line, '\n');
        if (!nl)
            break;
        line = nl + 1;
    }
}

static void print_cpuinfo(int cpu)
{
    if (have_cpuinfo < 0)
        read_cpuinfo();
    if (!have_cpuinfo)
        return;
    printf("hvk-init: cpu %d: /proc/cpuinfo apicid %ld initial apicid %ld\n", cpu, cpuinfo_apicid[cpu],
           cpuinfo_initial_apicid[cpu]);
}

// What CPUID shows on one CPU, read after pinning this process to it.
static void print_cpuid(int cpu)
{
    unsigned long mask[MAX_CPUS / (8 * sizeof(unsigned long))];
    memset(mask, 0, sizeof mask);
    mask[cpu / (8 * sizeof(unsigned long))] = 1UL << (cpu % (8 * sizeof(unsigned long)));
    long r = raw_syscall3(__NR_sched_setaffinity, 0, sizeof mask, (long)mask);
    if (r < 0) {
        printf("hvk-init: cpu %d: sched_setaffinity failed (%d)\n", cpu, (int)-r);
        return;
    }
    unsigned running = ~0u;
    raw_syscall3(__NR_getcpu, (long)&running, 0, 0);

    unsigned v[4], max;
    cpuid(0, 0, v);
    max = v[0];
    cpuid(1, 0, v);
    unsigned initial_apic = v[1] >> 24, hypervisor = v[2] >> 31 & 1;
    long x2apic = -1;
    if (max >= 0xb) {
        cpuid(0xb, 0, v);
        x2apic = v[3];
    }
    printf("hvk-init: cpu %d: running on cpu %d, cpuid initial apic id %u, x2apic id %ld, hypervisor bit %u\n",
           cpu, (int)running, initial_apic, x2apic, hypervisor);
    if (!hypervisor)
        return;

    cpuid(0x40000000, 0, v);
    unsigned hv_max = v[0];
    char sig[13];
    memcpy(sig, &v[1], 4);
    memcpy(sig + 4, &v[2], 4);
    memcpy(sig + 8, &v[3], 4);
    sig[12] = 0;
    for (int i = 0; i < 12; i++)
        if (sig[i] < 0x20 || sig[i] > 0x7e)
            sig[i] = '.';
    cpuid(0x40000001, 0, v);
    unsigned iface = v[0];
    printf("hvk-init: cpu %d: hypervisor \"%s\" max leaf 0x%x interface 0x%x%s\n", cpu, sig, hv_max,
           iface, iface == 0x31237648 ? " (Hv#1)" : "");
    if (iface != 0x31237648 || hv_max < 0x40000003)
        return;
    cpuid(0x40000003, 0, v);
    printf("hvk-init: cpu %d: hyper-v privileges 0x%x:%x features 0x%x%s%s\n", cpu, v[1], v[0], v[3],
           v[1] >> 16 & 1 ? " AccessVsm" : "", v[1] >> 21 & 1 ? " StartVirtualProcessor" : "");
    if (hv_max >= 0x40000005) {
        cpuid(0x40000005, 0, v);
        printf("hvk-init: cpu %d: hyper-v max vps %u max logical processors %u\n", cpu, v[0], v[1]);
    }
}

// The kernel's log lines that mention VTLs or Hyper-V (syslog(2), SYSLOG_ACTION_READ_ALL).
static void print_kernel_vtl_lines(void)
{
    static char log[1 << 17];
    long n = raw_syscall3(__NR_syslog, 3, (long)log, sizeof log - 1);
    if (n <= 0) {
        printf("hvk-init: kernel log not readable (%d)\n", (int)-n);
        return;
    }
    log[n] = 0;
    int matched = 0;
    for (char *line = log; *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        if (find(line, "VTL") || find(line, "Virtual Trust") || find(line, "Hyper-V")) {
            printf("hvk-init: kernel: %s\n", line);
            matched++;
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    printf("hvk-init: %d kernel log lines about VTLs or Hyper-V\n", matched);
}

int main(void)
{
    int pid1 = getpid() == 1;
    if (pid1) {
        mkdir("/proc", 0555);
        mkdir("/sys", 0555);
        if (mount("proc", "/proc", "proc", 0, 0) < 0)
            printf("hvk-init: mount /proc failed\n");
        if (mount("sysfs", "/sys", "sysfs", 0, 0) < 0)
            printf("hvk-init: mount /sys failed\n");
    }
    printf("hvk-init: started%s\n", pid1 ? "" : " (not PID 1: no mounts, no power-off)");

    static unsigned char online[MAX_CPUS];
    int count = -1;
    if (slurp("/sys/devices/system/cpu/online") > 0) {
        char *nl = strchr(buf, '\n');
        if (nl)
            *nl = 0;
        count = parse_cpu_list(buf, online);
        printf("hvk-init: %d CPUs online (%s)\n", count, buf);
    } else {
        printf("hvk-init: /sys/devices/system/cpu/online not readable\n");
    }
    for (int cpu = 0; cpu < MAX_CPUS; cpu++) {
        if (!online[cpu])
            continue;
        print_cpuinfo(cpu);
        print_cpuid(cpu);
    }
    print_kernel_vtl_lines();

    if (!pid1)
        return 0;

    struct stat st;
    int cmd = RB_POWER_OFF;
    const char *how = "powering off";
    if (stat("/sys/firmware/acpi", &st) != 0) {
        cmd = RB_AUTOBOOT;
        how = "rebooting (no ACPI, so no power-off)";
    }
    if (slurp("/proc/cmdline") > 0) {
        if (find(buf, "hvk-init=poweroff")) {
            cmd = RB_POWER_OFF;
            how = "powering off";
        } else if (find(buf, "hvk-init=reboot")) {
            cmd = RB_AUTOBOOT;
            how = "rebooting";
        } else if (find(buf, "hvk-init=halt")) {
            cmd = RB_HALT_SYSTEM;
            how = "halting";
        }
    }
    printf("hvk-init: done, %s\n", how);
    reboot(cmd);
    printf("hvk-init: reboot failed\n");
    for (;;)
        sleep(3600);  // PID 1 must not exit: the kernel would panic
}
