#ifndef SEALSTREAM_CCRC32C_H
#define SEALSTREAM_CCRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C (Castagnoli) with the SSE4.2 `crc32` instruction, for the journal's record
   checksums (docs/DURABILITY.md §2). `state` is the running register (0xffffffff at the
   start; the caller applies the final xor). Call only when sealstream_crc32c_hardware()
   returned 1; the Swift `CRC32C` falls back to its tables otherwise. */
uint32_t sealstream_crc32c_update(uint32_t state, const void *data, size_t length);

/* 1 when this CPU has SSE4.2 (CPUID leaf 1, ECX bit 20), else 0. */
int sealstream_crc32c_hardware(void);

#endif
