#ifndef SEALSTREAM_COPENSSLTLS_SHIM_H
#define SEALSTREAM_COPENSSLTLS_SHIM_H
/* OpenSSL's libssl, for the client side of TLS only (Client's TLSStream: the market data
 * feed over wss:, docs/MARKETDATA.md §6). A module of its own, apart from COpenSSL, so
 * that libssl is linked only where this is imported: the enclave worker, which imports
 * COpenSSL through SealCrypto, links no TLS. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* SSL_set_tlsext_host_name is a macro over SSL_ctrl, which Swift does not import. */
static inline int ss_ssl_set_server_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

/* SSL_CTX_set_min_proto_version is a macro over SSL_CTX_ctrl. */
static inline int ss_ssl_ctx_set_min_tls12(SSL_CTX *ctx) {
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}
#endif
