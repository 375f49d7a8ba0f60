#ifndef SEALSTREAM_CKECCAK_H
#define SEALSTREAM_CKECCAK_H

#include <stddef.h>
#include <stdint.h>

/// How many Keccak-256 messages `sealstream_keccak256_many` hashes side by side on this
/// CPU: 8 with AVX-512F (and the OS saving ZMM state), 4 with AVX2, 0 with neither or
/// off x86-64 (the caller then hashes one message at a time).
int sealstream_keccak256_parallel_width(void);

/// Keccak-256 (Ethereum's: rate 136 bytes, padding 0x01 … 0x80) of `count` messages of
/// `length` bytes each, message i at `messages + i * length`, digest i written to
/// `digests + 32 * i`. `width` is 4 or 8 and at most `sealstream_keccak256_parallel_width()`;
/// the messages go through `width` at a time (the last group padded with empty lanes).
void sealstream_keccak256_many(int width, const uint8_t *messages, size_t length, size_t count, uint8_t *digests);

#endif
