#include "ccrc32c.h"

#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>

__attribute__((target("sse4.2")))
uint32_t sealstream_crc32c_update(uint32_t state, const void *data, size_t length) {
    const unsigned char *p = data;
    uint64_t c = state;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8); /* unaligned little-endian load */
        c = _mm_crc32_u64(c, word);
        p += 8;
        length -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (length > 0) {
        c32 = _mm_crc32_u8(c32, *p++);
        length -= 1;
    }
    return c32;
}

int sealstream_crc32c_hardware(void) {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c & bit_SSE4_2) != 0;
}
#else
uint32_t sealstream_crc32c_update(uint32_t state, const void *data, size_t length) {
    (void)data;
    (void)length;
    return state;
}

int sealstream_crc32c_hardware(void) { return 0; }
#endif
