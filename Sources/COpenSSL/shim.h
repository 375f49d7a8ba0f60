#ifndef SEALSTREAM_COPENSSL_SHIM_H
#define SEALSTREAM_COPENSSL_SHIM_H
/* SealCrypto uses OpenSSL's SHA256_Init/Update/Final: deprecated in 3.0 in favour of
 * EVP, but the EVP path costs ~600 ns of dispatch per call on a 64-byte message against
 * ~70 ns here, and these run once per sequenced event. Both use the SHA-NI code.
 * P-256 ECDSA and X.509 chain verification (attestation) use the non-deprecated EVP,
 * OSSL_PARAM and X509_STORE APIs; the define only silences the SHA256_* warnings. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#endif
