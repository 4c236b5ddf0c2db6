/*  =========================================================================
    edge_jwt - the edge's verifier of Comptoir's tokens (EdDSA JWTs)

    Checks run in the order that trusts the token least: the shape and
    size first, then the header (alg pinned to EdDSA, a known kid), then
    the signature over the exact bytes received, and only then the claims,
    which are read from JSON that a key we hold has signed. A token that
    fails is never half-used: the identity is written only on success.

    Keys live in a small array (at most EDGE_JWT_KEYS_MAX, a linear scan
    of a handful of kids costs less than hashing), replaced whole by each
    JWK set so that what the edge trusts is exactly what the customer
    context publishes. See edge_jwt.h.
    =========================================================================
*/
#include "edge_jwt.h"
#include "logline.h"

#include <czmq.h>
#include <sodium.h>
#include <string.h>

typedef struct {
    char kid [EDGE_JWT_KID_MAX + 1];
    unsigned char pk [crypto_sign_PUBLICKEYBYTES];
} s_key_t;

struct _edge_jwt_t {
    char *issuer;
    char *audience;
    int64_t leeway_s;
    s_key_t keys [EDGE_JWT_KEYS_MAX];
    size_t count;
};

static const char *s_roles [] = { "customer", "cashier", "manager", "admin", NULL };

//  --------------------------------------------------------------------------
//  Create a verifier.

edge_jwt_t *
edge_jwt_new (const char *issuer, const char *audience, int64_t leeway_s)
{
    if (!issuer || !*issuer || !audience || !*audience || leeway_s < 0)
        return NULL;
    if (sodium_init () < 0)
        return NULL;
    edge_jwt_t *self = (edge_jwt_t *) zmalloc (sizeof (edge_jwt_t));
    self->issuer = strdup (issuer);
    self->audience = strdup (audience);
    self->leeway_s = leeway_s;
    if (!self->issuer || !self->audience)
        edge_jwt_destroy (&self);
    return self;
}

//  --------------------------------------------------------------------------

void
edge_jwt_destroy (edge_jwt_t **self_p)
{
    assert (self_p);
    edge_jwt_t *self = *self_p;
    if (!self)
        return;
    free (self->issuer);
    free (self->audience);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  A kid: 1..64 of A-Z a-z 0-9 - _ . (it goes into log lines).

static bool
s_kid_valid (const char *kid)
{
    size_t length = kid ? strlen (kid) : 0;
    if (length == 0 || length > EDGE_JWT_KID_MAX)
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = kid [i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

//  --------------------------------------------------------------------------
//  Strict base64url without padding into out. Returns the decoded size,
//  or -1 (bad character, padding, non-zero trailing bits, too long).

static int
s_b64url_decode (const char *text, size_t length, unsigned char *out, size_t out_size)
{
    size_t decoded = 0;
    const char *end = NULL;
    if (length == 0)
        return -1;
    if (sodium_base642bin (out, out_size, text, length, NULL, &decoded, &end,
                           sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0
    ||  end != text + length)
        return -1;
    return (int) decoded;
}

//  A base64url part holding a JSON object, decoded with duplicate keys
//  refused (two "alg" or two "sub" could mean one thing to us and another
//  to someone else). Returns a new reference, or NULL.
static json_t *
s_json_part (const char *text, size_t length)
{
    size_t capacity = length * 3 / 4 + 3;
    unsigned char *bytes = (unsigned char *) malloc (capacity);
    if (!bytes)
        return NULL;
    int size = s_b64url_decode (text, length, bytes, capacity);
    json_t *value = size > 0
                  ? json_loadb ((const char *) bytes, (size_t) size, JSON_REJECT_DUPLICATES, NULL)
                  : NULL;
    free (bytes);
    if (value && !json_is_object (value)) {
        json_decref (value);
        value = NULL;
    }
    return value;
}

//  --------------------------------------------------------------------------
//  Load a JWK set.

int
edge_jwt_load_jwks (edge_jwt_t *self, const json_t *jwks)
{
    assert (self);
    const json_t *list = json_object_get (jwks, "keys");
    if (!json_is_array (list))
        return -1;
    s_key_t *keys = (s_key_t *) calloc (EDGE_JWT_KEYS_MAX, sizeof (s_key_t));
    if (!keys)
        return -1;
    size_t count = 0, index;
    const json_t *jwk;
    json_array_foreach (list, index, jwk) {
        const char *kty = json_string_value (json_object_get (jwk, "kty"));
        const char *crv = json_string_value (json_object_get (jwk, "crv"));
        const char *kid = json_string_value (json_object_get (jwk, "kid"));
        const char *x = json_string_value (json_object_get (jwk, "x"));
        const json_t *alg = json_object_get (jwk, "alg");
        const json_t *use = json_object_get (jwk, "use");
        if (!kty || !streq (kty, "OKP") || !crv || !streq (crv, "Ed25519")
        ||  (alg && !(json_is_string (alg) && streq (json_string_value (alg), "EdDSA")))
        ||  (use && !(json_is_string (use) && streq (json_string_value (use), "sig")))
        ||  !s_kid_valid (kid) || !x || json_object_get (jwk, "d")) {
            log_warn (NULL, "jwks: key %zu is not an Ed25519 signature key, left out", index);
            continue;
        }
        if (count == EDGE_JWT_KEYS_MAX) {
            log_warn (NULL, "jwks: more than %d keys, %s left out", EDGE_JWT_KEYS_MAX, kid);
            continue;
        }
        bool duplicate = false;
        for (size_t i = 0; i < count; i++)
            duplicate = duplicate || streq (keys [i].kid, kid);
        unsigned char pk [crypto_sign_PUBLICKEYBYTES + 1];
        if (duplicate || s_b64url_decode (x, strlen (x), pk, sizeof pk) != crypto_sign_PUBLICKEYBYTES) {
            log_warn (NULL, "jwks: key %s is a duplicate or has no valid x, left out", kid);
            continue;
        }
        snprintf (keys [count].kid, sizeof keys [count].kid, "%s", kid);
        memcpy (keys [count].pk, pk, crypto_sign_PUBLICKEYBYTES);
        count++;
    }
    if (count == 0) {
        free (keys);
        return -1;
    }
    memset (self->keys, 0, sizeof self->keys);
    memcpy (self->keys, keys, count * sizeof (s_key_t));
    self->count = count;
    free (keys);
    return (int) count;
}

//  --------------------------------------------------------------------------

size_t
edge_jwt_size (edge_jwt_t *self)
{
    assert (self);
    return self->count;
}

static const s_key_t *
s_key_find (edge_jwt_t *self, const char *kid)
{
    for (size_t i = 0; i < self->count; i++)
        if (streq (self->keys [i].kid, kid))
            return &self->keys [i];
    return NULL;
}

bool
edge_jwt_knows (edge_jwt_t *self, const char *kid)
{
    assert (self);
    return kid && s_key_find (self, kid) != NULL;
}

//  --------------------------------------------------------------------------
//  An integer claim (a JSON integer; a real is refused: 1e99 is no time).
//  Returns 1 when present and read, 0 when absent, -1 when of another type.

static int
s_claim_int (const json_t *claims, const char *name, int64_t *value)
{
    const json_t *claim = json_object_get (claims, name);
    if (!claim)
        return 0;
    if (!json_is_integer (claim))
        return -1;
    *value = (int64_t) json_integer_value (claim);
    return 1;
}

//  aud is a string, or an array of strings one of which must be ours.
static bool
s_audience_ok (const json_t *aud, const char *audience)
{
    if (json_is_string (aud))
        return streq (json_string_value (aud), audience);
    if (!json_is_array (aud))
        return false;
    size_t index;
    const json_t *item;
    json_array_foreach (aud, index, item)
        if (json_is_string (item) && streq (json_string_value (item), audience))
            return true;
    return false;
}

//  sub: 1..64 printable ASCII characters (it travels into logs and SQL
//  parameters; the contexts read it as they need).
static bool
s_sub_valid (const char *sub)
{
    size_t length = sub ? strlen (sub) : 0;
    if (length == 0 || length > EDGE_JWT_SUB_MAX)
        return false;
    for (size_t i = 0; i < length; i++)
        if (sub [i] < 0x21 || sub [i] > 0x7e)
            return false;
    return true;
}

//  --------------------------------------------------------------------------
//  The claims of a token whose signature is good.

static edge_jwt_result_t
s_check_claims (edge_jwt_t *self, const json_t *claims, int64_t now, edge_jwt_identity_t *identity)
{
    int64_t exp = 0, nbf = 0, iat = 0, store_id = 0;
    int has_exp = s_claim_int (claims, "exp", &exp);
    int has_nbf = s_claim_int (claims, "nbf", &nbf);
    int has_iat = s_claim_int (claims, "iat", &iat);
    if (has_exp != 1 || has_nbf < 0 || has_iat < 0)
        return EDGE_JWT_BAD_CLAIMS;
    if (now >= exp)
        return EDGE_JWT_EXPIRED;
    if ((has_nbf && nbf > now + self->leeway_s) || (has_iat && iat > now + self->leeway_s))
        return EDGE_JWT_NOT_YET_VALID;
    const char *iss = json_string_value (json_object_get (claims, "iss"));
    if (!iss || !streq (iss, self->issuer))
        return EDGE_JWT_BAD_ISSUER;
    if (!s_audience_ok (json_object_get (claims, "aud"), self->audience))
        return EDGE_JWT_BAD_AUDIENCE;
    const char *sub = json_string_value (json_object_get (claims, "sub"));
    const char *role = json_string_value (json_object_get (claims, "role"));
    if (!s_sub_valid (sub) || !role)
        return EDGE_JWT_BAD_CLAIMS;
    bool known = false;
    for (const char **r = s_roles; *r && !known; r++)
        known = streq (*r, role);
    if (!known)
        return EDGE_JWT_BAD_CLAIMS;
    const json_t *store = json_object_get (claims, "store_id");
    if (store && !json_is_null (store)) {
        if (s_claim_int (claims, "store_id", &store_id) != 1 || store_id < 1)
            return EDGE_JWT_BAD_CLAIMS;
    }
    snprintf (identity->sub, sizeof identity->sub, "%s", sub);
    snprintf (identity->role, sizeof identity->role, "%s", role);
    identity->store_id = store_id;
    identity->exp = exp;
    return EDGE_JWT_OK;
}

//  --------------------------------------------------------------------------
//  Verify a token.

edge_jwt_result_t
edge_jwt_verify (edge_jwt_t *self, const char *token, int64_t now, edge_jwt_identity_t *identity)
{
    assert (self);
    assert (identity);
    memset (identity, 0, sizeof *identity);
    if (!token)
        return EDGE_JWT_MALFORMED;
    size_t length = strnlen (token, EDGE_JWT_TOKEN_MAX + 1);
    if (length == 0 || length > EDGE_JWT_TOKEN_MAX)
        return EDGE_JWT_MALFORMED;
    const char *dot1 = strchr (token, '.');
    const char *dot2 = dot1 ? strchr (dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || strchr (dot2 + 1, '.'))
        return EDGE_JWT_MALFORMED;
    size_t head_len = (size_t) (dot1 - token);
    size_t body_len = (size_t) (dot2 - dot1 - 1);
    size_t sig_len = length - (size_t) (dot2 + 1 - token);
    if (head_len == 0 || body_len == 0)
        return EDGE_JWT_MALFORMED;
    if (sig_len == 0)
        return EDGE_JWT_BAD_SIGNATURE;      //  alg none's empty signature, among others

    //  The header: alg pinned, no extension we would have to understand.
    json_t *header = s_json_part (token, head_len);
    if (!header)
        return EDGE_JWT_MALFORMED;
    const char *alg = json_string_value (json_object_get (header, "alg"));
    const char *typ = json_string_value (json_object_get (header, "typ"));
    const json_t *typ_value = json_object_get (header, "typ");
    const char *kid = json_string_value (json_object_get (header, "kid"));
    edge_jwt_result_t result = EDGE_JWT_OK;
    if (!alg || !streq (alg, "EdDSA") || json_object_get (header, "crit")
    ||  json_object_get (header, "jku") || json_object_get (header, "jwk")
    ||  json_object_get (header, "x5u") || json_object_get (header, "x5c"))
        result = EDGE_JWT_BAD_ALG;
    else
    if (typ_value && !(typ && streq (typ, "JWT")))
        result = EDGE_JWT_MALFORMED;
    else
    if (!s_kid_valid (kid))
        result = EDGE_JWT_UNKNOWN_KID;
    else {
        snprintf (identity->kid, sizeof identity->kid, "%s", kid);
        if (self->count == 0)
            result = EDGE_JWT_NO_KEYS;
        else
        if (!s_key_find (self, kid))
            result = EDGE_JWT_UNKNOWN_KID;
    }
    if (result != EDGE_JWT_OK) {
        json_decref (header);
        return result;
    }
    const s_key_t *key = s_key_find (self, kid);
    json_decref (header);

    //  The signature over the bytes as received.
    unsigned char signature [crypto_sign_BYTES + 1];
    if (s_b64url_decode (dot2 + 1, sig_len, signature, sizeof signature) != crypto_sign_BYTES
    ||  crypto_sign_verify_detached (signature, (const unsigned char *) token,
                                     (unsigned long long) (dot2 - token), key->pk) != 0)
        return EDGE_JWT_BAD_SIGNATURE;

    //  The claims, which a key we trust has signed.
    json_t *claims = s_json_part (dot1 + 1, body_len);
    if (!claims)
        return EDGE_JWT_MALFORMED;
    result = s_check_claims (self, claims, now, identity);
    json_decref (claims);
    if (result != EDGE_JWT_OK) {
        char kept [EDGE_JWT_KID_MAX + 1];
        snprintf (kept, sizeof kept, "%s", identity->kid);
        memset (identity, 0, sizeof *identity);
        snprintf (identity->kid, sizeof identity->kid, "%s", kept);
    }
    return result;
}

//  --------------------------------------------------------------------------

const char *
edge_jwt_reason (edge_jwt_result_t result)
{
    switch (result) {
        case EDGE_JWT_OK:               return "ok";
        case EDGE_JWT_MALFORMED:        return "malformed";
        case EDGE_JWT_BAD_ALG:          return "bad_alg";
        case EDGE_JWT_UNKNOWN_KID:      return "unknown_kid";
        case EDGE_JWT_BAD_SIGNATURE:    return "bad_signature";
        case EDGE_JWT_EXPIRED:          return "expired";
        case EDGE_JWT_NOT_YET_VALID:    return "not_yet_valid";
        case EDGE_JWT_BAD_ISSUER:       return "bad_issuer";
        case EDGE_JWT_BAD_AUDIENCE:     return "bad_audience";
        case EDGE_JWT_BAD_CLAIMS:       return "bad_claims";
        case EDGE_JWT_NO_KEYS:          return "no_keys";
        default:                        return "unknown";
    }
}

//  ==========================================================================
//  Self test: tokens made here with libsodium, good and forged.

static char *
s_b64url (const void *data, size_t size)
{
    size_t length = sodium_base64_encoded_len (size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *text = (char *) malloc (length);
    assert (text);
    sodium_bin2base64 (text, length, (const unsigned char *) data, size,
                       sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return text;
}

//  A token from a header and claims in JSON text, signed with sk (NULL:
//  an empty signature).
static char *
s_token (const char *header, const char *claims, const unsigned char *sk)
{
    char *head = s_b64url (header, strlen (header));
    char *body = s_b64url (claims, strlen (claims));
    char *input = zsys_sprintf ("%s.%s", head, body);
    char *sig = NULL;
    if (sk) {
        unsigned char signature [crypto_sign_BYTES];
        crypto_sign_detached (signature, NULL, (const unsigned char *) input, strlen (input), sk);
        sig = s_b64url (signature, sizeof signature);
    }
    char *token = zsys_sprintf ("%s.%s", input, sig ? sig : "");
    free (head);
    free (body);
    free (sig);
    zstr_free (&input);
    return token;
}

static char *
s_claims (int64_t now, const char *extra)
{
    return zsys_sprintf ("{\"sub\":\"42\",\"role\":\"customer\",\"iat\":%lld,\"nbf\":%lld,"
                         "\"exp\":%lld,\"iss\":\"comptoir\",\"aud\":\"comptoir-api\","
                         "\"jti\":\"0123456789abcdef0123456789abcdef\"%s}",
                         (long long) now, (long long) now, (long long) now + 3600, extra);
}

static json_t *
s_jwks (const char *kid, const unsigned char *pk)
{
    char *x = s_b64url (pk, crypto_sign_PUBLICKEYBYTES);
    json_t *jwks = json_pack ("{s:[{s:s, s:s, s:s, s:s, s:s, s:s}]}", "keys",
                              "kty", "OKP", "crv", "Ed25519", "kid", kid, "x", x,
                              "use", "sig", "alg", "EdDSA");
    free (x);
    return jwks;
}

void
edge_jwt_test (bool verbose)
{
    printf (" * edge_jwt: ");
    logline_init ("edge-test", verbose ? LOGLINE_DEBUG : LOGLINE_ERROR + 1);
    assert (sodium_init () >= 0);
    assert (edge_jwt_new ("", "comptoir-api", 60) == NULL);
    assert (edge_jwt_new ("comptoir", NULL, 60) == NULL);
    edge_jwt_t *jwt = edge_jwt_new ("comptoir", "comptoir-api", 60);
    assert (jwt);
    unsigned char pk [crypto_sign_PUBLICKEYBYTES], sk [crypto_sign_SECRETKEYBYTES];
    unsigned char pk2 [crypto_sign_PUBLICKEYBYTES], sk2 [crypto_sign_SECRETKEYBYTES];
    unsigned char other_pk [crypto_sign_PUBLICKEYBYTES], other_sk [crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair (pk, sk);
    crypto_sign_keypair (pk2, sk2);
    crypto_sign_keypair (other_pk, other_sk);
    int64_t now = (int64_t) time (NULL);
    const char *header = "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"k1\"}";
    char *claims = s_claims (now, "");
    char *good = s_token (header, claims, sk);
    edge_jwt_identity_t identity;

    //  No key set yet: nobody can tell
    assert (edge_jwt_verify (jwt, good, now, &identity) == EDGE_JWT_NO_KEYS);
    assert (streq (identity.kid, "k1"));

    //  Key sets: bad documents keep what was there
    json_t *jwks = s_jwks ("k1", pk);
    assert (edge_jwt_load_jwks (jwt, jwks) == 1);
    assert (edge_jwt_size (jwt) == 1 && edge_jwt_knows (jwt, "k1") && !edge_jwt_knows (jwt, "k2"));
    json_t *bad = json_pack ("{s:[{s:s, s:s, s:s, s:s}]}", "keys", "kty", "RSA", "kid", "r1",
                             "n", "AQAB", "e", "AQAB");
    assert (edge_jwt_load_jwks (jwt, bad) == -1);
    json_decref (bad);
    bad = json_pack ("{s:[{s:s, s:s, s:s, s:s}]}", "keys", "kty", "OKP", "crv", "Ed25519",
                     "kid", "bad kid", "x", "AAAA");
    assert (edge_jwt_load_jwks (jwt, bad) == -1);
    json_decref (bad);
    bad = json_pack ("{s:[{s:s, s:s, s:s, s:s}]}", "keys", "kty", "OKP", "crv", "Ed25519",
                     "kid", "short", "x", "AAAA");
    assert (edge_jwt_load_jwks (jwt, bad) == -1);
    json_decref (bad);
    assert (edge_jwt_load_jwks (jwt, NULL) == -1);
    bad = json_pack ("{s:s}", "keys", "none");
    assert (edge_jwt_load_jwks (jwt, bad) == -1);
    json_decref (bad);
    assert (edge_jwt_size (jwt) == 1);

    //  A good token names its holder
    assert (edge_jwt_verify (jwt, good, now, &identity) == EDGE_JWT_OK);
    assert (streq (identity.sub, "42") && streq (identity.role, "customer"));
    assert (identity.store_id == 0 && identity.exp == now + 3600 && streq (identity.kid, "k1"));

    //  Staff with a store; aud as an array
    char *staff_claims = zsys_sprintf ("{\"sub\":\"7\",\"role\":\"manager\",\"store_id\":2,"
                                       "\"exp\":%lld,\"iss\":\"comptoir\","
                                       "\"aud\":[\"other\",\"comptoir-api\"]}", (long long) now + 60);
    char *token = s_token (header, staff_claims, sk);
    assert (edge_jwt_verify (jwt, token, now, &identity) == EDGE_JWT_OK);
    assert (streq (identity.role, "manager") && identity.store_id == 2);
    zstr_free (&token);
    zstr_free (&staff_claims);

    //  The algorithm is pinned: none, HS256 with the public key as the
    //  HMAC secret, RS256, ES256, a missing alg, lower case
    char *none = s_token ("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, NULL);
    assert (edge_jwt_verify (jwt, none, now, &identity) == EDGE_JWT_BAD_SIGNATURE);
    zstr_free (&none);
    none = s_token ("{\"alg\":\"none\",\"kid\":\"k1\"}", claims, sk);
    assert (edge_jwt_verify (jwt, none, now, &identity) == EDGE_JWT_BAD_ALG);
    zstr_free (&none);
    {
        char *head = s_b64url ("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}", 38);
        char *body = s_b64url (claims, strlen (claims));
        char *input = zsys_sprintf ("%s.%s", head, body);
        unsigned char mac [crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256_state state;
        crypto_auth_hmacsha256_init (&state, pk, sizeof pk);
        crypto_auth_hmacsha256_update (&state, (const unsigned char *) input, strlen (input));
        crypto_auth_hmacsha256_final (&state, mac);
        char *sig = s_b64url (mac, sizeof mac);
        char *hs256 = zsys_sprintf ("%s.%s", input, sig);
        assert (edge_jwt_verify (jwt, hs256, now, &identity) == EDGE_JWT_BAD_ALG);
        zstr_free (&hs256);
        free (sig);
        zstr_free (&input);
        free (body);
        free (head);
    }
    const char *bad_headers [] = {
        "{\"alg\":\"RS256\",\"kid\":\"k1\"}", "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
        "{\"alg\":\"eddsa\",\"kid\":\"k1\"}", "{\"kid\":\"k1\"}", "{\"alg\":1,\"kid\":\"k1\"}",
        "{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"crit\":[\"exp\"]}",
        "{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"jwk\":{}}",
        NULL
    };
    for (const char **h = bad_headers; *h; h++) {
        token = s_token (*h, claims, sk);
        assert (edge_jwt_verify (jwt, token, now, &identity) == EDGE_JWT_BAD_ALG);
        zstr_free (&token);
    }
    //  Two alg keys in one header: refused as malformed JSON
    token = s_token ("{\"alg\":\"none\",\"alg\":\"EdDSA\",\"kid\":\"k1\"}", claims, sk);
    assert (edge_jwt_verify (jwt, token, now, &identity) == EDGE_JWT_MALFORMED);
    zstr_free (&token);

    //  Unknown kid, missing kid, a kid that is no kid
    token = s_token ("{\"alg\":\"EdDSA\",\"kid\":\"k9\"}", claims, sk);
    assert (edge_jwt_verify (jwt, token, now, &identity) == EDGE_JWT_UNKNOWN_KID);
    assert (streq (identity.kid, "k9"));
    zstr_free (&token);
    token = s_token ("{\"alg\":\"EdDSA\"}", claims, sk);
    assert (edge_jwt_verify (jwt, token, now, &identity) == EDGE_JWT_UNKNOWN_KID);
    zstr_free (&token);
    token = s_token ("{\"alg\":\"EdDSA\",\"kid\":\"../../etc/passwd\"}", claims, sk);
    assert (edge_jwt_verify (jwt, token, now, &identity) == EDGE_JWT_UNKNOWN_KID);
    assert (identity.kid [0] == 0);
    zstr_free (&token);

    //  Signed by another key under our kid; a payload changed after signing
    token = s_token (header, claims, other_sk);
    assert (edge_jwt_verify (jwt, token, now, &identity) == EDGE_JWT_BAD_SIGNATURE);
    zstr_free (&token);
    {
        char *forged_claims = zsys_sprintf ("{\"sub\":\"1\",\"role\":\"admin\",\"exp\":%lld,"
                                            "\"iss\":\"comptoir\",\"aud\":\"comptoir-api\"}",
                                            (long long) now + 3600);
        char *body = s_b64url (forged_claims, strlen (forged_claims));
        char *copy = strdup (good);
        char *dot1 = strchr (copy, '.'), *dot2 = strchr (dot1 + 1, '.');
        *dot1 = 0;
        char *tampered = zsys_sprintf ("%s.%s.%s", copy, body, dot2 + 1);
        assert (edge_jwt_verify (jwt, tampered, now, &identity) == EDGE_JWT_BAD_SIGNATURE);
        assert (identity.sub [0] == 0 && identity.role [0] == 0);
        zstr_free (&tampered);
        free (copy);
        free (body);
        zstr_free (&forged_claims);
    }
    //  A flipped bit in the signature; a truncated or padded signature
    {
        char *copy = strdup (good);
        char *last = copy + strlen (copy) - 2;
        *last = *last == 'A' ? 'B' : 'A';
        assert (edge_jwt_verify (jwt, copy, now, &identity) == EDGE_JWT_BAD_SIGNATURE);
        free (copy);
        copy = zsys_sprintf ("%.*s", (int) strlen (good) - 4, good);
        assert (edge_jwt_verify (jwt, copy, now, &identity) == EDGE_JWT_BAD_SIGNATURE);
        zstr_free (&copy);
        copy = zsys_sprintf ("%s==", good);
        assert (edge_jwt_verify (jwt, copy, now, &identity) == EDGE_JWT_BAD_SIGNATURE);
        zstr_free (&copy);
    }

    //  Malformed: garbage, two parts, four parts, empty parts, bad base64, not JSON
    const char *malformed [] = {
        "", "garbage", "a.b", "a.b.c.d", ".b.c", "a..c", "!!!.b.c",
        "eyJhbGciOiJFZERTQSJ9.e30=.AAAA",
        "bm90IGpzb24.e30.AAAA",     //  "not json"
        "WzFd.e30.AAAA",            //  [1]
        NULL
    };
    for (const char **m = malformed; *m; m++)
        assert (edge_jwt_verify (jwt, *m, now, &identity) != EDGE_JWT_OK);
    assert (edge_jwt_verify (jwt, "garbage", now, &identity) == EDGE_JWT_MALFORMED);
    assert (edge_jwt_verify (jwt, "a.b", now, &identity) == EDGE_JWT_MALFORMED);
    assert (edge_jwt_verify (jwt, NULL, now, &identity) == EDGE_JWT_MALFORMED);
    char *huge = (char *) malloc (EDGE_JWT_TOKEN_MAX + 2);
    memset (huge, 'a', EDGE_JWT_TOKEN_MAX + 1);
    huge [EDGE_JWT_TOKEN_MAX + 1] = 0;
    huge [10] = '.';
    huge [20] = '.';
    assert (edge_jwt_verify (jwt, huge, now, &identity) == EDGE_JWT_MALFORMED);
    free (huge);
    //  A signed payload that is not JSON
    token = s_token (header, "not json", sk);
    assert (edge_jwt_verify (jwt, token, now, &identity) == EDGE_JWT_MALFORMED);
    zstr_free (&token);

    //  Times: exp past (no leeway), nbf ahead beyond the leeway, inside it
    struct {
        const char *claims_format;
        int64_t a, b;
        edge_jwt_result_t expected;
    } times [] = {
        { "{\"sub\":\"42\",\"role\":\"customer\",\"exp\":%lld,\"nbf\":%lld,"
          "\"iss\":\"comptoir\",\"aud\":\"comptoir-api\"}", -1, -3600, EDGE_JWT_EXPIRED },
        { "{\"sub\":\"42\",\"role\":\"customer\",\"exp\":%lld,\"nbf\":%lld,"
          "\"iss\":\"comptoir\",\"aud\":\"comptoir-api\"}", 0, -3600, EDGE_JWT_EXPIRED },
        { "{\"sub\":\"42\",\"role\":\"customer\",\"exp\":%lld,\"nbf\":%lld,"
          "\"iss\":\"comptoir\",\"aud\":\"comptoir-api\"}", 7200, 61, EDGE_JWT_NOT_YET_VALID },
        { "{\"sub\":\"42\",\"role\":\"customer\",\"exp\":%lld,\"nbf\":%lld,"
          "\"iss\":\"comptoir\",\"aud\":\"comptoir-api\"}", 7200, 60, EDGE_JWT_OK },
        { "{\"sub\":\"42\",\"role\":\"customer\",\"exp\":%lld,\"iat\":%lld,"
          "\"iss\":\"comptoir\",\"aud\":\"comptoir-api\"}", 7200, 3600, EDGE_JWT_NOT_YET_VALID },
        { "{\"sub\":\"42\",\"role\":\"customer\",\"exp\":%lld,\"nbf\":%lld,"
          "\"iss\":\"evil\",\"aud\":\"comptoir-api\"}", 60, 0, EDGE_JWT_BAD_ISSUER },
        { "{\"sub\":\"42\",\"role\":\"customer\",\"exp\":%lld,\"nbf\":%lld,"
          "\"aud\":\"comptoir-api\"}", 60, 0, EDGE_JWT_BAD_ISSUER },
        { "{\"sub\":\"42\",\"role\":\"customer\",\"exp\":%lld,\"nbf\":%lld,"
          "\"iss\":\"comptoir\",\"aud\":\"other-api\"}", 60, 0, EDGE_JWT_BAD_AUDIENCE },
        { "{\"sub\":\"42\",\"role\":\"customer\",\"exp\":%lld,\"nbf\":%lld,"
          "\"iss\":\"comptoir\",\"aud\":[\"other\"]}", 60, 0, EDGE_JWT_BAD_AUDIENCE },
        { "{\"sub\":\"42\",\"role\":\"customer\",\"exp\":%lld,\"nbf\":%lld,"
          "\"iss\":\"comptoir\"}", 60, 0, EDGE_JWT_BAD_AUDIENCE },
        { "{\"sub\":\"42\",\"role\":\"root\",\"exp\":%lld,\"nbf\":%lld,"
          "\"iss\":\"comptoir\",\"aud\":\"comptoir-api\"}", 60, 0, EDGE_JWT_BAD_CLAIMS },
        { "{\"sub\":42,\"role\":\"customer\",\"exp\":%lld,\"nbf\":%lld,"
          "\"iss\":\"comptoir\",\"aud\":\"comptoir-api\"}", 60, 0, EDGE_JWT_BAD_CLAIMS },
        { "{\"sub\":\"4 2\",\"role\":\"customer\",\"exp\":%lld,\"nbf\":%lld,"
          "\"iss\":\"comptoir\",\"aud\":\"comptoir-api\"}", 60, 0, EDGE_JWT_BAD_CLAIMS },
        { "{\"sub\":\"42\",\"role\":\"cashier\",\"store_id\":\"1\",\"exp\":%lld,\"nbf\":%lld,"
          "\"iss\":\"comptoir\",\"aud\":\"comptoir-api\"}", 60, 0, EDGE_JWT_BAD_CLAIMS },
        { "{\"sub\":\"42\",\"role\":\"cashier\",\"store_id\":0,\"exp\":%lld,\"nbf\":%lld,"
          "\"iss\":\"comptoir\",\"aud\":\"comptoir-api\"}", 60, 0, EDGE_JWT_BAD_CLAIMS },
        { "{\"sub\":\"42\",\"role\":\"customer\",\"exp\":%lld.5,\"nbf\":%lld,"
          "\"iss\":\"comptoir\",\"aud\":\"comptoir-api\"}", 60, 0, EDGE_JWT_BAD_CLAIMS },
        { "{\"sub\":\"42\",\"role\":\"customer\",\"nbf\":%lld,\"iat\":%lld,"
          "\"iss\":\"comptoir\",\"aud\":\"comptoir-api\"}", 0, 0, EDGE_JWT_BAD_CLAIMS },
        { "{\"sub\":\"42\",\"role\":\"customer\",\"exp\":%lld,\"nbf\":%lld,"
          "\"iss\":\"comptoir\",\"aud\":\"comptoir-api\",\"sub\":\"1\"}", 60, 0, EDGE_JWT_MALFORMED },
    };
    for (size_t i = 0; i < sizeof times / sizeof times [0]; i++) {
        char *text = zsys_sprintf (times [i].claims_format, (long long) (now + times [i].a),
                                   (long long) (now + times [i].b));
        token = s_token (header, text, sk);
        edge_jwt_result_t result = edge_jwt_verify (jwt, token, now, &identity);
        if (result != times [i].expected)
            printf ("case %zu: %s, expected %s\n", i, edge_jwt_reason (result),
                    edge_jwt_reason (times [i].expected));
        assert (result == times [i].expected);
        if (result != EDGE_JWT_OK)
            assert (identity.sub [0] == 0 && identity.role [0] == 0);
        zstr_free (&token);
        zstr_free (&text);
    }

    //  Rotation: a set of two keys verifies both; a set without k1 stops it
    json_t *second = s_jwks ("k2", pk2);
    json_t *both = json_pack ("{s:[O, O]}", "keys", json_array_get (json_object_get (second, "keys"), 0),
                      json_array_get (json_object_get (jwks, "keys"), 0));
    assert (edge_jwt_load_jwks (jwt, both) == 2);
    char *newer = s_token ("{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"k2\"}", claims, sk2);
    assert (edge_jwt_verify (jwt, good, now, &identity) == EDGE_JWT_OK);
    assert (edge_jwt_verify (jwt, newer, now, &identity) == EDGE_JWT_OK && streq (identity.kid, "k2"));
    //  k2's token under k1's name fails: the kid picks the key
    char *swapped = s_token (header, claims, sk2);
    assert (edge_jwt_verify (jwt, swapped, now, &identity) == EDGE_JWT_BAD_SIGNATURE);
    zstr_free (&swapped);
    assert (edge_jwt_load_jwks (jwt, second) == 1);
    assert (edge_jwt_verify (jwt, good, now, &identity) == EDGE_JWT_UNKNOWN_KID);
    assert (edge_jwt_verify (jwt, newer, now, &identity) == EDGE_JWT_OK);
    for (int r = 0; r < EDGE_JWT_RESULTS; r++)
        assert (strlen (edge_jwt_reason ((edge_jwt_result_t) r)) > 1);

    zstr_free (&newer);
    json_decref (both);
    json_decref (second);
    json_decref (jwks);
    zstr_free (&good);
    zstr_free (&claims);
    edge_jwt_destroy (&jwt);
    assert (jwt == NULL);
    printf ("OK\n");
}
