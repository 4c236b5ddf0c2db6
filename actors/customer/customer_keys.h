/*  =========================================================================
    customer_keys - the Ed25519 keys that sign Comptoir's tokens, and JWTs

    A folder (auth/jwt_keys_dir) holds one pair of files per key:
    <kid>.secret (the 64-byte libsodium secret key, hex, mode 0600) and
    <kid>.pub (its 32-byte public key, hex). The newest key with both files
    signs; every .pub is published in the JWK set, so a token signed by a
    previous key still verifies after a rotation, until its .pub is removed.
    The folder is read again whenever its listing changes, so a rotation
    done by `comptoir-customer --rotate-key` reaches the running workers
    without a restart. Only the customer context ever reads these files.

    Tokens are JWTs (RFC 7519) with the header {"alg":"EdDSA","typ":"JWT",
    "kid":...}, base64url without padding, signed with crypto_sign_detached
    over "<header>.<payload>". No JWT library: libsodium and jansson do it.
    =========================================================================
*/
#ifndef COMPTOIR_CUSTOMER_KEYS_H
#define COMPTOIR_CUSTOMER_KEYS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CUSTOMER_KEYS_KID_MAX   64      //  characters of a kid: A-Z a-z 0-9 - _
#define CUSTOMER_KEYS_MAX       32      //  keys published at most

typedef struct _customer_keys_t customer_keys_t;

//  Does not touch the folder yet. NULL only on allocation failure.
customer_keys_t *customer_keys_new (const char *dir);
void customer_keys_destroy (customer_keys_t **self_p);

//  Create the folder (0700) when missing, and a first key when no key can
//  sign. Safe against other threads and processes doing the same (a lock
//  file). 0 / -1.
int customer_keys_ensure (customer_keys_t *self);

//  Create a new key, which signs from now on; its kid is copied into kid
//  (CUSTOMER_KEYS_KID_MAX + 1 bytes) when kid is not NULL. 0 / -1.
int customer_keys_rotate (customer_keys_t *self, char *kid);

//  Read the folder again if it changed. 0 when a key can sign, else -1.
int customer_keys_refresh (customer_keys_t *self);

//  The kid of the signing key (after a refresh), or NULL. Valid until the
//  next call on self.
const char *customer_keys_kid (customer_keys_t *self);

//  The JWK set of every published key, newest first (new reference).
json_t *customer_keys_jwks (customer_keys_t *self);

//  Sign claims (an object; not taken) as a compact JWT. New string or NULL.
char *customer_keys_sign (customer_keys_t *self, json_t *claims);

//  Check a compact JWT's header (alg EdDSA, a published kid) and signature
//  with the published keys. Returns its claims (new reference), or NULL.
//  Times, issuer and audience are the caller's to check.
json_t *customer_keys_verify (customer_keys_t *self, const char *token);

//  base64url without padding of bytes (new string), and back (returns the
//  decoded length, or -1 when out is too small or the text is not base64url).
char *customer_keys_b64url (const unsigned char *bytes, size_t size);
int customer_keys_b64url_decode (const char *text, size_t text_len, unsigned char *out, size_t out_size);

void customer_keys_test (bool verbose);

#endif
