#ifndef SEALSTREAM_CVECTORWIDTH_H
#define SEALSTREAM_CVECTORWIDTH_H

/// The widest vector registers this CPU has and the OS saves on a context switch, in bits:
/// 512 with AVX-512F (and opmask and ZMM state), 256 with AVX2 (and YMM state), 0 with
/// neither or off x86-64. What CKeccak and CSHA256Lanes choose their widths by.
int sealstream_vector_width_bits(void);

#endif
