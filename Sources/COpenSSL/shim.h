#ifndef EDDY_COPENSSL_SHIM_H
#define EDDY_COPENSSL_SHIM_H

#include <openssl/sha.h>
#include <openssl/rand.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

// One-shot SHA-1 through the EVP interface (the low-level SHA1_* calls are deprecated
// in OpenSSL 3). Returns 1 on success. `out` must hold 20 bytes.
static inline int eddy_sha1(const void *data, size_t count, unsigned char *out) {
    unsigned int size = 0;
    return EVP_Digest(data, count, out, &size, EVP_sha1(), NULL) == 1 && size == 20;
}

// One-shot SHA-256 through the EVP interface. Returns 1 on success. `out` must hold 32
// bytes.
static inline int eddy_sha256(const void *data, size_t count, unsigned char *out) {
    unsigned int size = 0;
    return EVP_Digest(data, count, out, &size, EVP_sha256(), NULL) == 1 && size == 32;
}

#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <string.h>

// MARK: TLS (EddyTLS). OpenSSL spells these as macros or with casts Swift cannot import.

// A server or client context with Eddy's fixed settings: record buffers released while a
// connection is idle, no renegotiation, no compression, `min_version` as the floor (a
// TLS1_x_VERSION constant), `max_version` the ceiling (0: the newest OpenSSL knows).
// Returns 1 on success.
static inline int eddy_tls_ctx_configure(SSL_CTX *ctx, int min_version, int max_version) {
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_min_proto_version(ctx, min_version) != 1) return 0;
    if (SSL_CTX_set_max_proto_version(ctx, max_version) != 1) return 0;
    return 1;
}

// Loads a PEM certificate chain from memory: the leaf first, then intermediates.
// Returns 1 on success.
static inline int eddy_tls_ctx_use_chain_pem(SSL_CTX *ctx, const void *pem, int length) {
    BIO *bio = BIO_new_mem_buf(pem, length);
    if (bio == NULL) return 0;
    X509 *leaf = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL);
    int ok = leaf != NULL && SSL_CTX_use_certificate(ctx, leaf) == 1;
    X509_free(leaf);
    if (ok) SSL_CTX_clear_chain_certs(ctx);
    while (ok) {
        X509 *extra = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (extra == NULL) break;
        if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) { X509_free(extra); ok = 0; }
    }
    // Running out of certificates ends the loop with a "no start line" error: expected.
    if (ok) ERR_clear_error();
    BIO_free(bio);
    return ok;
}

// Loads a PEM private key from memory. Returns 1 on success.
static inline int eddy_tls_ctx_use_key_pem(SSL_CTX *ctx, const void *pem, int length) {
    BIO *bio = BIO_new_mem_buf(pem, length);
    if (bio == NULL) return 0;
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    int ok = key != NULL && SSL_CTX_use_PrivateKey(ctx, key) == 1;
    EVP_PKEY_free(key);
    BIO_free(bio);
    return ok;
}

// Adds every PEM certificate in memory to the context's trust store. Returns the number
// added (0: none, an error).
static inline int eddy_tls_ctx_trust_pem(SSL_CTX *ctx, const void *pem, int length) {
    BIO *bio = BIO_new_mem_buf(pem, length);
    if (bio == NULL) return 0;
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    int added = 0;
    for (;;) {
        X509 *certificate = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (certificate == NULL) break;
        if (X509_STORE_add_cert(store, certificate) == 1) added++;
        X509_free(certificate);
    }
    if (added > 0) ERR_clear_error();
    BIO_free(bio);
    return added;
}

// ALPN for servers: `arg` points at [total length: 2 bytes, big-endian][wire-format list],
// the server's protocols in preference order; the first of them the client also offers
// wins. No overlap ends the handshake with the no_application_protocol alert (RFC 7301).
static inline int eddy_tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                       const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl;
    const unsigned char *server = (const unsigned char *)arg;
    unsigned int serverLength = ((unsigned int)server[0] << 8) | server[1];
    unsigned char *selected = NULL;
    if (SSL_select_next_proto(&selected, outlen, server + 2, serverLength, in, inlen) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

static inline void eddy_tls_ctx_set_alpn_select(SSL_CTX *ctx, void *list) {
    SSL_CTX_set_alpn_select_cb(ctx, eddy_tls_alpn_select, list);
}

// SNI for servers: `arg` is the `EddyTLSNames` table below; the context whose name equals
// the requested one (case-insensitively) serves the connection; an unknown or missing
// name keeps the default context.
typedef struct EddyTLSNames {
    int count;
    const char **names;
    SSL_CTX **contexts;
} EddyTLSNames;

static inline int eddy_tls_servername(SSL *ssl, int *alert, void *arg) {
    (void)alert;
    const EddyTLSNames *table = (const EddyTLSNames *)arg;
    const char *requested = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (requested == NULL || table == NULL) return SSL_TLSEXT_ERR_NOACK;
    for (int i = 0; i < table->count; i++) {
        if (OPENSSL_strcasecmp(requested, table->names[i]) == 0) {
            if (SSL_set_SSL_CTX(ssl, table->contexts[i]) == NULL) return SSL_TLSEXT_ERR_ALERT_FATAL;
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static inline void eddy_tls_ctx_set_servername_table(SSL_CTX *ctx, EddyTLSNames *table) {
    SSL_CTX_set_tlsext_servername_callback(ctx, eddy_tls_servername);
    SSL_CTX_set_tlsext_servername_arg(ctx, table);
}

// The name a client sends in its ClientHello (SNI). Returns 1 on success.
static inline int eddy_tls_set_server_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

// The name the server selected by SNI, or NULL.
static inline const char *eddy_tls_server_name(const SSL *ssl) {
    return SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
}

// A memory BIO; `eof_return` 0 makes reading it when empty an end of file, -1 a "retry".
static inline BIO *eddy_tls_memory_bio(void) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio != NULL) BIO_set_mem_eof_return(bio, -1);
    return bio;
}

// From now on, an empty memory BIO reads as end of file (the transport ended).
static inline void eddy_tls_bio_set_eof(BIO *bio) {
    BIO_set_mem_eof_return(bio, 0);
}

// The bytes a memory BIO holds and the capacity of its buffer.
static inline size_t eddy_tls_bio_capacity(BIO *bio) {
    BUF_MEM *memory = NULL;
    BIO_get_mem_ptr(bio, &memory);
    return memory == NULL ? 0 : memory->max;
}

// Whether `ssl` releases its record buffers while idle (SSL_MODE_RELEASE_BUFFERS).
static inline int eddy_tls_releases_buffers(SSL *ssl) {
    return (SSL_get_mode(ssl) & SSL_MODE_RELEASE_BUFFERS) != 0;
}

static inline int eddy_tls_error_reason(unsigned long error) { return ERR_GET_REASON(error); }
static inline int eddy_tls_error_library(unsigned long error) { return ERR_GET_LIB(error); }

#endif
