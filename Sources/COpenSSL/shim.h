#ifndef MOESERVE_COPENSSL_SHIM_H
#define MOESERVE_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#endif
