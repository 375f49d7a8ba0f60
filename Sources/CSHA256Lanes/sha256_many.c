#include "csha256lanes.h"
#include "cvectorwidth.h"

#include <string.h>

#if defined(__x86_64__)

/* FIPS 180-4 §4.2.2: the round constants. */
static const uint32_t sha256_k[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

/* FIPS 180-4 §5.3.3: the initial hash value. */
static const uint32_t sha256_iv[8] = {
    0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au, 0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u,
};

static inline uint32_t load_be32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}

static inline void store_be32(uint8_t *p, uint32_t v) {
    v = __builtin_bswap32(v);
    memcpy(p, &v, 4);
}

/* A rotation of every element; vprord under AVX-512F, two shifts and an or under AVX2. */
#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

/* Eight messages per ymm register (AVX2). */
typedef uint32_t sha256_v8 __attribute__((vector_size(32)));
#define W 8
#define VEC sha256_v8
#define TARGET __attribute__((target("avx2")))
#define NAME(f) sha256x8_##f
#include "sha256_lanes.h"
#undef W
#undef VEC
#undef TARGET
#undef NAME

/* Sixteen messages per zmm register (AVX-512F: rotations and three-input logic in one
 * instruction each). */
typedef uint32_t sha256_v16 __attribute__((vector_size(64)));
#define W 16
#define VEC sha256_v16
#define TARGET __attribute__((target("avx512f")))
#define NAME(f) sha256x16_##f
#include "sha256_lanes.h"
#undef W
#undef VEC
#undef TARGET
#undef NAME

int sealstream_sha256_parallel_width(void) { return sealstream_vector_width_bits() / 32; }

void sealstream_sha256_nodes(int width, const uint8_t *const *pairs, uint8_t *const *digests, size_t count) {
    for (size_t done = 0; done < count;) {
        size_t group = count - done < (size_t)width ? count - done : (size_t)width;
        if (width == 16) {
            sha256x16_nodes(pairs + done, digests + done, group);
        } else {
            sha256x8_nodes(pairs + done, digests + done, group);
        }
        done += group;
    }
}
#else
int sealstream_sha256_parallel_width(void) { return 0; }

void sealstream_sha256_nodes(int width, const uint8_t *const *pairs, uint8_t *const *digests, size_t count) {
    (void)width;
    (void)pairs;
    (void)digests;
    (void)count;
    __builtin_trap(); /* width is 0 here: callers never get this far */
}
#endif
