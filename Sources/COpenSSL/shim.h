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

#endif
