#ifndef MOESERVE_COPENSSL_SHIM_H
#define MOESERVE_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

// Swift cannot call OpenSSL's function-like macros (SSL_CTX_set_min_proto_version, SSL_CTX_set_mode,
// ...) nor import the SSL_OP_* constants (they are built from casts), so these small wrappers do.

/// Restricts a context to protocol versions [min_version, max_version] (0 = no bound).
static inline int moeserve_ssl_ctx_set_proto_range(SSL_CTX *ctx, int min_version, int max_version) {
    return SSL_CTX_set_min_proto_version(ctx, min_version) && SSL_CTX_set_max_proto_version(ctx, max_version);
}

/// Hardening for both ends: no TLS compression (CRIME), no renegotiation, and a peer that closes without
/// close_notify counts as a clean EOF rather than an error (common for HTTP clients).
static inline void moeserve_ssl_ctx_set_default_options(SSL_CTX *ctx) {
    uint64_t options = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION;
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    options |= SSL_OP_IGNORE_UNEXPECTED_EOF;
#endif
    SSL_CTX_set_options(ctx, options);
}

/// Modes for non-blocking sockets: SSL_write may return after a partial write and may be retried with
/// a buffer that moved; idle connections release their read/write buffers.
static inline void moeserve_ssl_ctx_set_nonblocking_modes(SSL_CTX *ctx) {
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                              | SSL_MODE_RELEASE_BUFFERS);
}

static inline int moeserve_ssl_filetype_pem(void) { return SSL_FILETYPE_PEM; }

/// ALPN: select "http/1.1" if the client offers it; otherwise carry on without ALPN.
static inline int moeserve_alpn_select_http11(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                              const unsigned char *in, unsigned int inlen, void *arg) {
    static const unsigned char server[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char *selected = NULL;
    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&selected, outlen, server, sizeof(server), in, inlen) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

static inline void moeserve_ssl_ctx_select_alpn_http11(SSL_CTX *ctx) {
    SSL_CTX_set_alpn_select_cb(ctx, moeserve_alpn_select_http11, NULL);
}

#endif
