#include "cvectorwidth.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <stdint.h>

/* XCR0: which register state the OS saves on a context switch. */
static uint64_t xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

int sealstream_vector_width_bits(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & bit_OSXSAVE) || !(c & bit_AVX)) return 0;
    uint64_t saved = xcr0();
    if ((saved & 0x6) != 0x6) return 0; /* XMM and YMM state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    if ((b & bit_AVX512F) && (saved & 0xE6) == 0xE6) return 512; /* and opmask, ZMM state */
    if (b & bit_AVX2) return 256;
    return 0;
}
#else
int sealstream_vector_width_bits(void) { return 0; }
#endif
