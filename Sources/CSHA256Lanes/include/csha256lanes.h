#ifndef SEALSTREAM_CSHA256LANES_H
#define SEALSTREAM_CSHA256LANES_H

#include <stddef.h>
#include <stdint.h>

/// How many SHA-256 messages `sealstream_sha256_nodes` hashes side by side on this CPU:
/// 16 with AVX-512F (and the OS saving ZMM state), 8 with AVX2, 0 with neither or off
/// x86-64 (the caller then hashes one message at a time).
int sealstream_sha256_parallel_width(void);

/// RFC 6962 interior node hashes, SHA-256(0x01 ‖ left ‖ right), of `count` pairs: pair i
/// is the 64 bytes at `pairs[i]` (left then right), its digest written to the 32 bytes at
/// `digests[i]`, which must not overlap any pair of the call. `width` is 8 or 16 and at
/// most `sealstream_sha256_parallel_width()`; the pairs go through `width` at a time (a
/// last, short group padded with copies of its first pair, whose digests are dropped).
void sealstream_sha256_nodes(int width, const uint8_t *const *pairs, uint8_t *const *digests, size_t count);

#endif
