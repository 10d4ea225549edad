#pragma once

// <linux/kvm.h>, made right for C++. Include this instead of it.
//
// Debian 12's uapi headers (Linux 6.1) declare flexible arrays with __DECLARE_FLEX_ARRAY as
// `struct { struct {} __empty_name; T name[]; }`. An empty struct is one byte in C++, so
// kvm_cpuid2 grows from 8 to 12 bytes and kvm_msrs to 16, their entries move, and the ioctl
// numbers that encode those sizes (KVM_GET_SUPPORTED_CPUID, KVM_SET_CPUID2, KVM_GET_MSRS,
// KVM_SET_MSRS, ...) change: KVM answers EINVAL. Linux 6.3+ headers use `T name[0]` for C++;
// so does this. The pragma keeps -Wpedantic quiet about the zero-length arrays, as it is for
// the system header itself.
#pragma GCC system_header

#include <linux/stddef.h>
#undef __DECLARE_FLEX_ARRAY
#define __DECLARE_FLEX_ARRAY(TYPE, NAME) TYPE NAME[0]
#include <linux/kvm.h>

static_assert(sizeof(kvm_cpuid2) == 8 && sizeof(kvm_msrs) == 8,
              "<linux/kvm.h> was included before kvm/linux_kvm.h: wrong C++ struct layout");
