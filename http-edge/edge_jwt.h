/*  =========================================================================
    edge_jwt - the edge's verifier of Comptoir's tokens (EdDSA JWTs)

    The customer context signs tokens with Ed25519 keys that only it holds;
    the edge verifies them with the public keys of the context's JWK set
    (auth.jwks), which it loads here and replaces whole at every refresh,
    so that several keys verify at once (a rotation logs nobody out) and a
    key removed from the set stops verifying at the next refresh.

    The algorithm is pinned: the header must say alg "EdDSA" and name a
    known kid, whatever else it says, so "none", HS256 (the public key used
    as an HMAC secret) and every other alg are refused before any key is
    touched. No JWT library: libsodium checks the signature, jansson reads
    the JSON, and every part is bounded and decoded strictly (base64url
    without padding, canonical, no duplicate JSON keys).

    Not thread-safe: it belongs to the edge's one loop.
    =========================================================================
*/
#ifndef COMPTOIR_EDGE_JWT_H
#define COMPTOIR_EDGE_JWT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Bounds on what is accepted at all.
#define EDGE_JWT_TOKEN_MAX      4096    //  characters of a compact token
#define EDGE_JWT_KEYS_MAX       64      //  keys held from one JWK set
#define EDGE_JWT_KID_MAX        64      //  characters of a kid: A-Z a-z 0-9 - _ .
#define EDGE_JWT_SUB_MAX        64      //  characters of a sub: printable ASCII

typedef enum {
    EDGE_JWT_OK = 0,
    EDGE_JWT_MALFORMED,         //  not header.payload.signature in base64url JSON
    EDGE_JWT_BAD_ALG,           //  alg other than EdDSA (none, HS256...), or a crit header
    EDGE_JWT_UNKNOWN_KID,       //  no kid, or a kid not in the key set
    EDGE_JWT_BAD_SIGNATURE,
    EDGE_JWT_EXPIRED,           //  now >= exp
    EDGE_JWT_NOT_YET_VALID,     //  nbf (or iat) later than now + leeway
    EDGE_JWT_BAD_ISSUER,
    EDGE_JWT_BAD_AUDIENCE,
    EDGE_JWT_BAD_CLAIMS,        //  sub, role, exp or store_id missing or of the wrong shape
    EDGE_JWT_NO_KEYS,           //  no key set loaded yet: cannot tell
    EDGE_JWT_RESULTS
} edge_jwt_result_t;

//  Who a valid token names.
typedef struct {
    char sub [EDGE_JWT_SUB_MAX + 1];
    char role [16];             //  customer, cashier, manager or admin
    int64_t store_id;           //  0 when the token has none
    int64_t exp;                //  seconds since the epoch
    char kid [EDGE_JWT_KID_MAX + 1];
} edge_jwt_identity_t;

typedef struct _edge_jwt_t edge_jwt_t;

//  A verifier for tokens of this issuer and audience, accepting nbf and
//  iat up to leeway_s in the future (clocks differ between hosts); exp
//  has no leeway. Returns NULL on allocation failure or empty strings.
edge_jwt_t *edge_jwt_new (const char *issuer, const char *audience, int64_t leeway_s);

void edge_jwt_destroy (edge_jwt_t **self_p);

//  Replace the key set with the Ed25519 keys of a JWK set
//  {"keys": [{"kty":"OKP","crv":"Ed25519","kid","x"}...]}. Entries of
//  another type or with a bad kid or x are left out. Returns the number
//  of keys now held, or -1 when the document holds no usable key (the set
//  held before is kept then).
int edge_jwt_load_jwks (edge_jwt_t *self, const json_t *jwks);

//  Number of keys held.
size_t edge_jwt_size (edge_jwt_t *self);

//  True when a key with this kid is held.
bool edge_jwt_knows (edge_jwt_t *self, const char *kid);

//  Verify a compact token at time now (seconds since the epoch). On
//  EDGE_JWT_OK identity is filled; on EDGE_JWT_UNKNOWN_KID identity->kid
//  holds the kid asked for (when it was a valid kid), so the caller can
//  fetch the key set again.
edge_jwt_result_t edge_jwt_verify (edge_jwt_t *self, const char *token, int64_t now,
                                   edge_jwt_identity_t *identity);

//  A short name of a result, for logs and metrics ("expired").
const char *edge_jwt_reason (edge_jwt_result_t result);

void edge_jwt_test (bool verbose);

#endif
