#include "ckeccak.h"
#include "cvectorwidth.h"

#include <string.h>

#if defined(__x86_64__)

enum { RATE = 136, RATE_LANES = 17 };

/* ι's round constants, rounds 0 … 23 (FIPS 202 §3.2.5). */
static const uint64_t keccak_round_constants[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808AULL, 0x8000000080008000ULL,
    0x000000000000808BULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008AULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000AULL,
    0x000000008000808BULL, 0x800000000000008BULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800AULL, 0x800000008000000AULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

/* A rotation of every element; the compilers turn it into vprolq under AVX-512 and into
 * two shifts and an or under AVX2. */
#define ROTL(x, n) (((x) << (n)) | ((x) >> (64 - (n))))

/* Four messages per ymm register (AVX2). */
typedef uint64_t keccak_v4 __attribute__((vector_size(32)));
#define W 4
#define VEC keccak_v4
#define TARGET __attribute__((target("avx2")))
#define NAME(f) keccak4_##f
#include "keccak_lanes.h"
#undef W
#undef VEC
#undef TARGET
#undef NAME

/* Eight messages per zmm register (AVX-512F: rotations and three-input logic in one
 * instruction each). */
typedef uint64_t keccak_v8 __attribute__((vector_size(64)));
#define W 8
#define VEC keccak_v8
#define TARGET __attribute__((target("avx512f")))
#define NAME(f) keccak8_##f
#include "keccak_lanes.h"
#undef W
#undef VEC
#undef TARGET
#undef NAME

int sealstream_keccak256_parallel_width(void) { return sealstream_vector_width_bits() / 64; }

void sealstream_keccak256_many(int width, const uint8_t *messages, size_t length, size_t count, uint8_t *digests) {
    for (size_t done = 0; done < count;) {
        size_t group = count - done < (size_t)width ? count - done : (size_t)width;
        if (width == 8) {
            keccak8_hash(messages + done * length, length, group, digests + 32 * done);
        } else {
            keccak4_hash(messages + done * length, length, group, digests + 32 * done);
        }
        done += group;
    }
}
#else
int sealstream_keccak256_parallel_width(void) { return 0; }

void sealstream_keccak256_many(int width, const uint8_t *messages, size_t length, size_t count, uint8_t *digests) {
    (void)width;
    (void)messages;
    (void)length;
    (void)count;
    (void)digests;
    __builtin_trap(); /* width is 0 here: callers never get this far */
}
#endif
