#ifndef SEALSTREAM_COPENSSL_SHIM_H
#define SEALSTREAM_COPENSSL_SHIM_H
/* SealCrypto uses OpenSSL's SHA256_Init/Update/Final: deprecated in 3.0 in favour of
 * EVP, but the EVP path costs ~600 ns of dispatch per call on a 64-byte message against
 * ~70 ns here, and these run once per sequenced event. Both use the SHA-NI code. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#endif
