/*  =========================================================================
    customer_password - Argon2id password hashes (libsodium crypto_pwhash)

    Hashes are libsodium's encoded strings ("$argon2id$v=19$m=...,t=...,p=1$
    salt$hash"): the algorithm, its cost and the salt travel with the hash,
    so the cost can be raised later and old hashes still verify (and are
    re-hashed at the next successful login).
    =========================================================================
*/
#ifndef COMPTOIR_CUSTOMER_PASSWORD_H
#define COMPTOIR_CUSTOMER_PASSWORD_H

#include "settings.h"

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>

//  OWASP's minimum for Argon2id: 19 MiB of memory, 2 passes, 1 lane.
#define CUSTOMER_PASSWORD_MEMLIMIT_MIN  (19u * 1024u * 1024u)
#define CUSTOMER_PASSWORD_OPSLIMIT_MIN  2

typedef struct {
    unsigned long long opslimit;
    size_t memlimit;            //  bytes
} customer_password_cost_t;

//  The cost from auth/argon2_opslimit and auth/argon2_memlimit (bytes);
//  never below the minimum above (a lower setting is raised, with a warning).
customer_password_cost_t customer_password_cost (settings_t *settings);

//  Hash a password into out (crypto_pwhash_STRBYTES). 0 / -1 (out of memory).
int customer_password_hash (const customer_password_cost_t *cost, const char *password,
                            char *out);

//  True when the password matches the encoded Argon2id hash.
bool customer_password_verify (const char *hash, const char *password);

//  True when the hash was made with another cost than this one.
bool customer_password_needs_rehash (const char *hash, const customer_password_cost_t *cost);

void customer_password_test (bool verbose);

#endif
