/* Not a header of its own: RFC 6962 node hashes of W pairs side by side, one SHA-256
 * (FIPS 180-4 §6.2) per 32-bit element of a vector, included once per width by
 * sha256_many.c with W, VEC, TARGET and NAME defined. Element i of every vector belongs to
 * pair i; every line below is the scalar algorithm on W messages at once. */

/* One compression of the 16 message words `m` into the eight state words `s`. */
TARGET static void NAME(compress)(VEC *s, const VEC *m) {
    VEC w[16];
    for (int t = 0; t < 16; t++) w[t] = m[t];
    VEC a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
#pragma clang loop unroll(full)
    for (int t = 0; t < 64; t++) {
        VEC wt;
        if (t < 16) {
            wt = w[t];
        } else {
            VEC x = w[(t - 15) & 15], y = w[(t - 2) & 15];
            VEC s0 = ROTR(x, 7) ^ ROTR(x, 18) ^ (x >> 3);
            VEC s1 = ROTR(y, 17) ^ ROTR(y, 19) ^ (y >> 10);
            wt = w[t & 15] = w[t & 15] + s0 + w[(t - 7) & 15] + s1;
        }
        VEC t1 = h + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + (g ^ (e & (f ^ g))) + sha256_k[t] + wt;
        VEC t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) | (c & (a | b)));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    s[0] += a;
    s[1] += b;
    s[2] += c;
    s[3] += d;
    s[4] += e;
    s[5] += f;
    s[6] += g;
    s[7] += h;
}

/* `n` (1 … W) node hashes: the pairs at `pairs[0 …]`, the digests to `digests[0 …]`. The
 * message is 0x01 ‖ pair (65 bytes), padded to two blocks: block 1 is 0x01 and the pair's
 * first 63 bytes, block 2 its last byte, 0x80, zeros and the bit length 520. With p[j] the
 * pair's big-endian word j, block 1's word j is p[j − 1] << 24 | p[j] >> 8 (p[−1] = 0x01),
 * and block 2's word 0 is p[15] << 24 | 0x800000. */
TARGET static void NAME(nodes)(const uint8_t *const *pairs, uint8_t *const *digests, size_t n) {
    uint32_t words[16][W] __attribute__((aligned(64)));
    for (size_t i = 0; i < W; i++) {
        const uint8_t *pair = pairs[i < n ? i : 0];
        for (int j = 0; j < 16; j++) words[j][i] = load_be32(pair + 4 * j);
    }
    VEC p[16];
    for (int j = 0; j < 16; j++) memcpy(&p[j], words[j], sizeof(VEC));
    VEC m[16];
    m[0] = (p[0] >> 8) | 0x01000000u;
    for (int j = 1; j < 16; j++) m[j] = (p[j - 1] << 24) | (p[j] >> 8);
    VEC s[8];
    for (int j = 0; j < 8; j++) s[j] = (VEC){0} + sha256_iv[j];
    NAME(compress)(s, m);
    m[0] = (p[15] << 24) | 0x00800000u;
    for (int j = 1; j < 15; j++) m[j] = (VEC){0};
    m[15] = (VEC){0} + 520u;
    NAME(compress)(s, m);
    for (int j = 0; j < 8; j++) memcpy(words[j], &s[j], sizeof(VEC));
    for (size_t i = 0; i < n; i++) {
        for (int j = 0; j < 8; j++) store_be32(digests[i] + 4 * j, words[j][i]);
    }
}
