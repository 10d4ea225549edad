// Everything a bundled hvk guest uses. A guest defines guest_main; the runtime (entry64.S) calls
// it on the boot VP with the boot_params address and exits with its return value.
#pragma once

#include "guest/apic.h"
#include "guest/boot.h"
#include "guest/console.h"
#include "guest/cpu.h"
#include "guest/hv.h"
#include "guest/smp.h"
#include "guest/tap.h"

extern "C" int guest_main(const void* boot_params);

extern "C" {
void* memset(void* dst, int c, std::size_t n);
void* memcpy(void* dst, const void* src, std::size_t n);
void* memmove(void* dst, const void* src, std::size_t n);
int memcmp(const void* a, const void* b, std::size_t n);
std::size_t strlen(const char* s);
int strcmp(const char* a, const char* b);
int strncmp(const char* a, const char* b, std::size_t n);
}
