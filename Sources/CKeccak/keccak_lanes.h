/* Not a header of its own: one multi-message Keccak-256 for a vector of W 64-bit lanes, included once per width
 * by keccak_many.c with W, VEC, TARGET and NAME defined. Lane i of message j lives in
 * element j of state[i]; every line below is the scalar algorithm on W messages at once.
 *
 * Keccak-f[1600] (FIPS 202 §3.3): per round θ (column parities c, d[x] = c[x-1] ^
 * rotl(c[x+1], 1), added to every lane of column x), ρ and π fused (lane (x, y), rotated
 * by its ρ offset, moves to (y, 2x + 3y)), χ (b[x] ^ (~b[x+1] & b[x+2]) along each row)
 * and ι (the round constant into lane (0, 0)). Lane (x, y) is at index x + 5y. */

TARGET static void NAME(permute)(VEC *state) {
    VEC a00 = state[0], a01 = state[1], a02 = state[2], a03 = state[3], a04 = state[4];
    VEC a05 = state[5], a06 = state[6], a07 = state[7], a08 = state[8], a09 = state[9];
    VEC a10 = state[10], a11 = state[11], a12 = state[12], a13 = state[13], a14 = state[14];
    VEC a15 = state[15], a16 = state[16], a17 = state[17], a18 = state[18], a19 = state[19];
    VEC a20 = state[20], a21 = state[21], a22 = state[22], a23 = state[23], a24 = state[24];
    for (int round = 0; round < 24; round++) {
        VEC c0 = a00 ^ a05 ^ a10 ^ a15 ^ a20;
        VEC c1 = a01 ^ a06 ^ a11 ^ a16 ^ a21;
        VEC c2 = a02 ^ a07 ^ a12 ^ a17 ^ a22;
        VEC c3 = a03 ^ a08 ^ a13 ^ a18 ^ a23;
        VEC c4 = a04 ^ a09 ^ a14 ^ a19 ^ a24;
        VEC d0 = c4 ^ ROTL(c1, 1);
        VEC d1 = c0 ^ ROTL(c2, 1);
        VEC d2 = c1 ^ ROTL(c3, 1);
        VEC d3 = c2 ^ ROTL(c4, 1);
        VEC d4 = c3 ^ ROTL(c0, 1);
        VEC b00 = a00 ^ d0;
        VEC b01 = ROTL(a06 ^ d1, 44);
        VEC b02 = ROTL(a12 ^ d2, 43);
        VEC b03 = ROTL(a18 ^ d3, 21);
        VEC b04 = ROTL(a24 ^ d4, 14);
        VEC b05 = ROTL(a03 ^ d3, 28);
        VEC b06 = ROTL(a09 ^ d4, 20);
        VEC b07 = ROTL(a10 ^ d0, 3);
        VEC b08 = ROTL(a16 ^ d1, 45);
        VEC b09 = ROTL(a22 ^ d2, 61);
        VEC b10 = ROTL(a01 ^ d1, 1);
        VEC b11 = ROTL(a07 ^ d2, 6);
        VEC b12 = ROTL(a13 ^ d3, 25);
        VEC b13 = ROTL(a19 ^ d4, 8);
        VEC b14 = ROTL(a20 ^ d0, 18);
        VEC b15 = ROTL(a04 ^ d4, 27);
        VEC b16 = ROTL(a05 ^ d0, 36);
        VEC b17 = ROTL(a11 ^ d1, 10);
        VEC b18 = ROTL(a17 ^ d2, 15);
        VEC b19 = ROTL(a23 ^ d3, 56);
        VEC b20 = ROTL(a02 ^ d2, 62);
        VEC b21 = ROTL(a08 ^ d3, 55);
        VEC b22 = ROTL(a14 ^ d4, 39);
        VEC b23 = ROTL(a15 ^ d0, 41);
        VEC b24 = ROTL(a21 ^ d1, 2);
        a00 = b00 ^ (~b01 & b02) ^ keccak_round_constants[round];
        a01 = b01 ^ (~b02 & b03);
        a02 = b02 ^ (~b03 & b04);
        a03 = b03 ^ (~b04 & b00);
        a04 = b04 ^ (~b00 & b01);
        a05 = b05 ^ (~b06 & b07);
        a06 = b06 ^ (~b07 & b08);
        a07 = b07 ^ (~b08 & b09);
        a08 = b08 ^ (~b09 & b05);
        a09 = b09 ^ (~b05 & b06);
        a10 = b10 ^ (~b11 & b12);
        a11 = b11 ^ (~b12 & b13);
        a12 = b12 ^ (~b13 & b14);
        a13 = b13 ^ (~b14 & b10);
        a14 = b14 ^ (~b10 & b11);
        a15 = b15 ^ (~b16 & b17);
        a16 = b16 ^ (~b17 & b18);
        a17 = b17 ^ (~b18 & b19);
        a18 = b18 ^ (~b19 & b15);
        a19 = b19 ^ (~b15 & b16);
        a20 = b20 ^ (~b21 & b22);
        a21 = b21 ^ (~b22 & b23);
        a22 = b22 ^ (~b23 & b24);
        a23 = b23 ^ (~b24 & b20);
        a24 = b24 ^ (~b20 & b21);
    }
    state[0] = a00; state[1] = a01; state[2] = a02; state[3] = a03; state[4] = a04;
    state[5] = a05; state[6] = a06; state[7] = a07; state[8] = a08; state[9] = a09;
    state[10] = a10; state[11] = a11; state[12] = a12; state[13] = a13; state[14] = a14;
    state[15] = a15; state[16] = a16; state[17] = a17; state[18] = a18; state[19] = a19;
    state[20] = a20; state[21] = a21; state[22] = a22; state[23] = a23; state[24] = a24;
}

/* XORs the 17 rate lanes of one 136-byte block of each of `count` (≤ W) messages into
 * `state`; `blocks[j]` is message j's block. Absent messages contribute zeros. */
TARGET static void NAME(absorb)(VEC *state, const uint8_t *const *blocks, size_t count) {
    for (int i = 0; i < RATE_LANES; i++) {
        uint64_t lanes[W] = {0};
        for (size_t j = 0; j < count; j++) memcpy(&lanes[j], blocks[j] + 8 * i, 8); /* little-endian load */
        VEC v;
        memcpy(&v, lanes, sizeof v);
        state[i] ^= v;
    }
}

/* Keccak-256 of `count` (1 … W) messages of `length` bytes each. */
TARGET static void NAME(hash)(const uint8_t *messages, size_t length, size_t count, uint8_t *digests) {
    VEC state[25];
    memset(state, 0, sizeof state);
    const uint8_t *blocks[W];
    size_t offset = 0;
    for (; length - offset >= RATE; offset += RATE) {
        for (size_t j = 0; j < count; j++) blocks[j] = messages + j * length + offset;
        NAME(absorb)(state, blocks, count);
        NAME(permute)(state);
    }
    /* The last block: the remaining 0 … 135 bytes, 0x01, zeros, 0x80 in its last byte. */
    uint8_t padded[W][RATE];
    size_t rest = length - offset;
    for (size_t j = 0; j < count; j++) {
        memset(padded[j], 0, RATE);
        if (rest > 0) memcpy(padded[j], messages + j * length + offset, rest);
        padded[j][rest] ^= 0x01;
        padded[j][RATE - 1] ^= 0x80;
        blocks[j] = padded[j];
    }
    NAME(absorb)(state, blocks, count);
    NAME(permute)(state);
    for (size_t j = 0; j < count; j++) {
        for (int i = 0; i < 4; i++) {
            uint64_t lane = state[i][j];
            memcpy(digests + 32 * j + 8 * i, &lane, 8); /* little-endian store */
        }
    }
}
