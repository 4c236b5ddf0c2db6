/*  =========================================================================
    customer_keys - the Ed25519 keys that sign Comptoir's tokens, and JWTs

    Why it is built this way:

    - Keys are files, not rows: the private key then never leaves the host
      of the customer context, backups of the database hold no signing key,
      and an operator rotates or retires a key with ordinary file commands.
    - The newest key is the one whose .secret was written last. A rotation
      makes sure its new file is strictly newer than every other (file
      times can be coarser than two quick rotations), so "newest" never
      depends on a random part of a name.
    - Files are written under a temporary name and renamed, .pub before
      .secret, so a worker that reads the folder at any moment sees either
      the old set or a key that can be verified before it signs anything.
    - Each worker actor holds its own copy of the keys (nothing shared
      between threads); a listing of names, times and sizes tells it when
      to read the folder again, which costs a readdir per token.
    =========================================================================
*/
#include "customer_keys.h"
#include "logline.h"

#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char kid [CUSTOMER_KEYS_KID_MAX + 1];
    unsigned char pk [crypto_sign_PUBLICKEYBYTES];
    unsigned char sk [crypto_sign_SECRETKEYBYTES];
    bool has_secret;
    int64_t mtime_ns;           //  of the .secret, else of the .pub
} s_key_t;

struct _customer_keys_t {
    char *dir;
    s_key_t keys [CUSTOMER_KEYS_MAX];
    size_t count;
    int signer;                 //  index into keys, -1 when none can sign
    char *listing;              //  the folder's listing at the last read
};

//  --------------------------------------------------------------------------

customer_keys_t *
customer_keys_new (const char *dir)
{
    assert (dir);
    customer_keys_t *self = (customer_keys_t *) zmalloc (sizeof (customer_keys_t));
    if (!self)
        return NULL;
    self->dir = strdup (dir);
    self->signer = -1;
    if (!self->dir)
        customer_keys_destroy (&self);
    return self;
}

//  --------------------------------------------------------------------------

void
customer_keys_destroy (customer_keys_t **self_p)
{
    assert (self_p);
    customer_keys_t *self = *self_p;
    if (self) {
        sodium_memzero (self->keys, sizeof self->keys);
        free (self->dir);
        free (self->listing);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------

char *
customer_keys_b64url (const unsigned char *bytes, size_t size)
{
    size_t length = sodium_base64_encoded_len (size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *text = (char *) malloc (length);
    if (text)
        sodium_bin2base64 (text, length, bytes, size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return text;
}

int
customer_keys_b64url_decode (const char *text, size_t text_len, unsigned char *out, size_t out_size)
{
    size_t decoded = 0;
    const char *end = NULL;
    if (sodium_base642bin (out, out_size, text, text_len, NULL, &decoded, &end,
                           sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0
    ||  end != text + text_len)
        return -1;
    return (int) decoded;
}

//  --------------------------------------------------------------------------
//  A kid: 1 to 64 of A-Z a-z 0-9 - _. Names outside that are not ours.

static bool
s_kid_ok (const char *kid, size_t length)
{
    if (length == 0 || length > CUSTOMER_KEYS_KID_MAX)
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = kid [i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '-' || c == '_'))
            return false;
    }
    return true;
}

//  "kid" when name is "<kid><suffix>" with a valid kid; copied into kid.
static bool
s_kid_of (const char *name, const char *suffix, char *kid)
{
    size_t length = strlen (name), suffix_len = strlen (suffix);
    if (length <= suffix_len || !streq (name + length - suffix_len, suffix))
        return false;
    if (!s_kid_ok (name, length - suffix_len))
        return false;
    memcpy (kid, name, length - suffix_len);
    kid [length - suffix_len] = 0;
    return true;
}

static int64_t
s_mtime_ns (const struct stat *info)
{
    return (int64_t) info->st_mtim.tv_sec * 1000000000LL + info->st_mtim.tv_nsec;
}

//  --------------------------------------------------------------------------
//  Read a file of hex into out (exactly size bytes). 0 / -1.

static int
s_read_hex (const char *path, unsigned char *out, size_t size)
{
    char text [300];
    int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t got = read (fd, text, sizeof text - 1);
    close (fd);
    if (got <= 0) {
        sodium_memzero (text, sizeof text);
        return -1;
    }
    size_t length = (size_t) got;
    while (length > 0 && (text [length - 1] == '\n' || text [length - 1] == '\r'
                          || text [length - 1] == ' '))
        length--;
    size_t decoded = 0;
    const char *end = NULL;
    int rc = sodium_hex2bin (out, size, text, length, NULL, &decoded, &end) == 0
             && decoded == size && end == text + length ? 0 : -1;
    sodium_memzero (text, sizeof text);
    return rc;
}

//  --------------------------------------------------------------------------
//  The listing: every .pub and .secret with its time and size, sorted.

static int
s_listing_compare (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static char *
s_listing (const char *dir)
{
    DIR *handle = opendir (dir);
    if (!handle)
        return NULL;
    zlist_t *lines = zlist_new ();
    zlist_autofree (lines);
    struct dirent *entry;
    char kid [CUSTOMER_KEYS_KID_MAX + 1];
    while ((entry = readdir (handle)) != NULL) {
        if (!s_kid_of (entry->d_name, ".pub", kid) && !s_kid_of (entry->d_name, ".secret", kid))
            continue;
        char path [4096], line [512];
        snprintf (path, sizeof path, "%s/%s", dir, entry->d_name);
        struct stat info;
        if (lstat (path, &info) || !S_ISREG (info.st_mode))
            continue;
        snprintf (line, sizeof line, "%s %lld %lld", entry->d_name,
                  (long long) s_mtime_ns (&info), (long long) info.st_size);
        zlist_append (lines, line);
    }
    closedir (handle);
    size_t count = zlist_size (lines);
    char **sorted = (char **) calloc (count + 1, sizeof (char *));
    size_t n = 0;
    for (char *line = (char *) zlist_first (lines); sorted && line; line = (char *) zlist_next (lines))
        sorted [n++] = line;
    char *listing = NULL;
    if (sorted) {
        qsort (sorted, n, sizeof (char *), s_listing_compare);
        zchunk_t *out = zchunk_new (NULL, 256);
        for (size_t i = 0; i < n; i++) {
            zchunk_extend (out, sorted [i], strlen (sorted [i]));
            zchunk_extend (out, "\n", 1);
        }
        listing = zchunk_strdup (out);
        zchunk_destroy (&out);
        free (sorted);
    }
    zlist_destroy (&lines);
    return listing;
}

//  --------------------------------------------------------------------------
//  Newest first: by time, then by kid.

static int
s_key_compare (const void *a, const void *b)
{
    const s_key_t *left = (const s_key_t *) a, *right = (const s_key_t *) b;
    if (left->mtime_ns != right->mtime_ns)
        return left->mtime_ns < right->mtime_ns ? 1 : -1;
    return -strcmp (left->kid, right->kid);
}

//  --------------------------------------------------------------------------
//  Read every key of the folder.

static void
s_load (customer_keys_t *self)
{
    sodium_memzero (self->keys, sizeof self->keys);
    self->count = 0;
    self->signer = -1;
    DIR *handle = opendir (self->dir);
    if (!handle) {
        log_error (NULL, "jwt keys: cannot open %s: %s", self->dir, strerror (errno));
        return;
    }
    struct dirent *entry;
    while ((entry = readdir (handle)) != NULL) {
        s_key_t key;
        memset (&key, 0, sizeof key);
        if (!s_kid_of (entry->d_name, ".pub", key.kid))
            continue;
        if (self->count == CUSTOMER_KEYS_MAX) {
            log_warn (NULL, "jwt keys: more than %d keys in %s, %s left out",
                      CUSTOMER_KEYS_MAX, self->dir, entry->d_name);
            continue;
        }
        char path [4096];
        struct stat info;
        snprintf (path, sizeof path, "%s/%s.pub", self->dir, key.kid);
        if (lstat (path, &info) || !S_ISREG (info.st_mode)
        ||  s_read_hex (path, key.pk, sizeof key.pk)) {
            log_warn (NULL, "jwt keys: %s is not a public key, left out", path);
            continue;
        }
        key.mtime_ns = s_mtime_ns (&info);
        snprintf (path, sizeof path, "%s/%s.secret", self->dir, key.kid);
        if (lstat (path, &info) == 0 && S_ISREG (info.st_mode)) {
            unsigned char derived [crypto_sign_PUBLICKEYBYTES];
            if (s_read_hex (path, key.sk, sizeof key.sk) == 0
            &&  crypto_sign_ed25519_sk_to_pk (derived, key.sk) == 0
            &&  sodium_memcmp (derived, key.pk, sizeof derived) == 0) {
                key.has_secret = true;
                key.mtime_ns = s_mtime_ns (&info);
                if (info.st_mode & 077)
                    log_warn (NULL, "jwt keys: %s is readable by others (chmod 600 it)", path);
            }
            else {
                sodium_memzero (key.sk, sizeof key.sk);
                log_error (NULL, "jwt keys: %s does not match %s.pub: it will not sign", path, key.kid);
            }
        }
        self->keys [self->count++] = key;
        sodium_memzero (&key, sizeof key);
    }
    closedir (handle);
    qsort (self->keys, self->count, sizeof (s_key_t), s_key_compare);
    for (size_t i = 0; i < self->count && self->signer < 0; i++)
        if (self->keys [i].has_secret)
            self->signer = (int) i;
}

//  --------------------------------------------------------------------------

int
customer_keys_refresh (customer_keys_t *self)
{
    assert (self);
    char *listing = s_listing (self->dir);
    if (!listing || !self->listing || !streq (listing, self->listing)) {
        s_load (self);
        if (self->signer >= 0)
            log_info (NULL, "jwt keys: %zu published in %s, %s signs", self->count, self->dir,
                      self->keys [self->signer].kid);
        free (self->listing);
        self->listing = listing;
    }
    else
        free (listing);
    return self->signer >= 0 ? 0 : -1;
}

//  --------------------------------------------------------------------------

const char *
customer_keys_kid (customer_keys_t *self)
{
    assert (self);
    customer_keys_refresh (self);
    return self->signer >= 0 ? self->keys [self->signer].kid : NULL;
}

//  --------------------------------------------------------------------------
//  Write a file under a temporary name, then rename it into place. 0 / -1.

static int
s_write_file (const char *path, const char *text, mode_t mode)
{
    char temporary [4200];
    snprintf (temporary, sizeof temporary, "%s.tmp", path);
    unlink (temporary);
    int fd = open (temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    size_t length = strlen (text);
    bool ok = fchmod (fd, mode) == 0 && write (fd, text, length) == (ssize_t) length
           && fsync (fd) == 0;
    ok = close (fd) == 0 && ok;
    if (!ok || rename (temporary, path)) {
        unlink (temporary);
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  The folder, created 0700 (with its parents) when missing.

static int
s_make_dir (const char *dir)
{
    struct stat info;
    if (stat (dir, &info) == 0)
        return S_ISDIR (info.st_mode) ? 0 : -1;
    char *path = strdup (dir);
    if (!path)
        return -1;
    for (char *slash = strchr (path + 1, '/'); slash; slash = strchr (slash + 1, '/')) {
        *slash = 0;
        if (mkdir (path, 0755) && errno != EEXIST) {
            free (path);
            return -1;
        }
        *slash = '/';
    }
    free (path);
    if (mkdir (dir, 0700) && errno != EEXIST)
        return -1;
    return chmod (dir, 0700);
}

//  The lock that serialises key creation across threads and processes.
static int
s_lock (const char *dir)
{
    char path [4096];
    snprintf (path, sizeof path, "%s/.lock", dir);
    int fd = open (path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0 && flock (fd, LOCK_EX)) {
        close (fd);
        fd = -1;
    }
    return fd;
}

static void
s_unlock (int fd)
{
    if (fd >= 0) {
        flock (fd, LOCK_UN);
        close (fd);
    }
}

//  --------------------------------------------------------------------------
//  Create a key while holding the lock.

static int
s_create_key (customer_keys_t *self, char *kid_out)
{
    unsigned char pk [crypto_sign_PUBLICKEYBYTES], sk [crypto_sign_SECRETKEYBYTES];
    char kid [CUSTOMER_KEYS_KID_MAX + 1], path [4096];
    struct stat info;
    time_t now = time (NULL);
    struct tm utc;
    gmtime_r (&now, &utc);
    for (int tries = 0; ; tries++) {
        unsigned char random [3];
        randombytes_buf (random, sizeof random);
        snprintf (kid, sizeof kid, "%04d-%02d-%02d-%02x%02x%02x", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, random [0], random [1], random [2]);
        snprintf (path, sizeof path, "%s/%s.pub", self->dir, kid);
        if (lstat (path, &info) != 0)
            break;
        if (tries == 100)
            return -1;
    }
    if (crypto_sign_keypair (pk, sk))
        return -1;
    char pk_hex [2 * sizeof pk + 2], sk_hex [2 * sizeof sk + 2];
    sodium_bin2hex (pk_hex, sizeof pk_hex - 1, pk, sizeof pk);
    sodium_bin2hex (sk_hex, sizeof sk_hex - 1, sk, sizeof sk);
    strcat (pk_hex, "\n");
    strcat (sk_hex, "\n");
    sodium_memzero (sk, sizeof sk);

    //  Strictly newer than every key there, whatever the clock's grain
    int64_t newest = 0;
    for (size_t i = 0; i < self->count; i++)
        if (self->keys [i].mtime_ns > newest)
            newest = self->keys [i].mtime_ns;
    int rc = s_write_file (path, pk_hex, 0644);
    snprintf (path, sizeof path, "%s/%s.secret", self->dir, kid);
    if (rc == 0)
        rc = s_write_file (path, sk_hex, 0600);
    sodium_memzero (sk_hex, sizeof sk_hex);
    if (rc == 0 && lstat (path, &info) == 0 && s_mtime_ns (&info) <= newest) {
        struct timespec times [2];
        times [0].tv_sec = 0;
        times [0].tv_nsec = UTIME_OMIT;
        times [1].tv_sec = (time_t) ((newest + 1) / 1000000000LL);
        times [1].tv_nsec = (long) ((newest + 1) % 1000000000LL);
        rc = utimensat (AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW);
    }
    if (rc) {
        log_error (NULL, "jwt keys: cannot write the key %s in %s: %s", kid, self->dir, strerror (errno));
        return -1;
    }
    log_info (NULL, "jwt keys: new signing key %s in %s", kid, self->dir);
    if (kid_out)
        snprintf (kid_out, CUSTOMER_KEYS_KID_MAX + 1, "%s", kid);
    return 0;
}

//  --------------------------------------------------------------------------

int
customer_keys_rotate (customer_keys_t *self, char *kid)
{
    assert (self);
    if (s_make_dir (self->dir)) {
        log_error (NULL, "jwt keys: cannot create %s: %s", self->dir, strerror (errno));
        return -1;
    }
    int lock = s_lock (self->dir);
    if (lock < 0) {
        log_error (NULL, "jwt keys: cannot lock %s: %s", self->dir, strerror (errno));
        return -1;
    }
    customer_keys_refresh (self);
    int rc = s_create_key (self, kid);
    s_unlock (lock);
    if (rc == 0 && customer_keys_refresh (self))
        rc = -1;
    return rc;
}

//  --------------------------------------------------------------------------

int
customer_keys_ensure (customer_keys_t *self)
{
    assert (self);
    if (s_make_dir (self->dir)) {
        log_error (NULL, "jwt keys: cannot create %s: %s", self->dir, strerror (errno));
        return -1;
    }
    int lock = s_lock (self->dir);
    if (lock < 0) {
        log_error (NULL, "jwt keys: cannot lock %s: %s", self->dir, strerror (errno));
        return -1;
    }
    int rc = 0;
    if (customer_keys_refresh (self))
        rc = s_create_key (self, NULL);
    s_unlock (lock);
    if (rc == 0)
        rc = customer_keys_refresh (self);
    return rc;
}

//  --------------------------------------------------------------------------

json_t *
customer_keys_jwks (customer_keys_t *self)
{
    assert (self);
    customer_keys_refresh (self);
    json_t *keys = json_array ();
    for (size_t i = 0; keys && i < self->count; i++) {
        char *x = customer_keys_b64url (self->keys [i].pk, sizeof self->keys [i].pk);
        json_t *jwk = x ? json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519",
                                     "kid", self->keys [i].kid, "x", x, "use", "sig", "alg", "EdDSA")
                        : NULL;
        free (x);
        if (!jwk || json_array_append_new (keys, jwk)) {
            json_decref (keys);
            return NULL;
        }
    }
    return keys ? json_pack ("{s:o}", "keys", keys) : NULL;
}

//  --------------------------------------------------------------------------

static char *
s_b64url_json (json_t *value)
{
    char *text = json_dumps (value, JSON_COMPACT);
    char *encoded = text ? customer_keys_b64url ((const unsigned char *) text, strlen (text)) : NULL;
    free (text);
    return encoded;
}

char *
customer_keys_sign (customer_keys_t *self, json_t *claims)
{
    assert (self);
    if (!json_is_object (claims) || customer_keys_refresh (self))
        return NULL;
    const s_key_t *key = &self->keys [self->signer];
    json_t *header = json_pack ("{s:s, s:s, s:s}", "alg", "EdDSA", "typ", "JWT", "kid", key->kid);
    char *head = header ? s_b64url_json (header) : NULL;
    char *body = s_b64url_json (claims);
    json_decref (header);
    char *token = NULL;
    if (head && body) {
        char *input = zsys_sprintf ("%s.%s", head, body);
        unsigned char signature [crypto_sign_BYTES];
        if (input && crypto_sign_detached (signature, NULL, (const unsigned char *) input,
                                           strlen (input), key->sk) == 0) {
            char *sig = customer_keys_b64url (signature, sizeof signature);
            if (sig)
                token = zsys_sprintf ("%s.%s", input, sig);
            free (sig);
        }
        zstr_free (&input);
    }
    free (head);
    free (body);
    return token;
}

//  --------------------------------------------------------------------------
//  Decode one base64url part holding a JSON object.

static json_t *
s_json_part (const char *text, size_t length)
{
    if (length == 0 || length > 8192)
        return NULL;
    unsigned char *bytes = (unsigned char *) malloc (length);
    int size = bytes ? customer_keys_b64url_decode (text, length, bytes, length) : -1;
    json_t *value = size > 0 ? json_loadb ((const char *) bytes, (size_t) size, JSON_REJECT_DUPLICATES, NULL)
                             : NULL;
    free (bytes);
    if (!json_is_object (value)) {
        json_decref (value);
        return NULL;
    }
    return value;
}

json_t *
customer_keys_verify (customer_keys_t *self, const char *token)
{
    assert (self);
    if (!token)
        return NULL;
    customer_keys_refresh (self);
    const char *dot1 = strchr (token, '.');
    const char *dot2 = dot1 ? strchr (dot1 + 1, '.') : NULL;
    if (!dot2 || strchr (dot2 + 1, '.'))
        return NULL;
    json_t *header = s_json_part (token, (size_t) (dot1 - token));
    const char *alg = json_string_value (json_object_get (header, "alg"));
    const char *kid = json_string_value (json_object_get (header, "kid"));
    const s_key_t *key = NULL;
    for (size_t i = 0; alg && kid && streq (alg, "EdDSA") && i < self->count && !key; i++)
        if (streq (self->keys [i].kid, kid))
            key = &self->keys [i];
    json_decref (header);
    unsigned char signature [crypto_sign_BYTES];
    if (!key || customer_keys_b64url_decode (dot2 + 1, strlen (dot2 + 1), signature,
                                             sizeof signature) != (int) sizeof signature)
        return NULL;
    if (crypto_sign_verify_detached (signature, (const unsigned char *) token,
                                     (size_t) (dot2 - token), key->pk) != 0)
        return NULL;
    return s_json_part (dot1 + 1, (size_t) (dot2 - dot1 - 1));
}

//  --------------------------------------------------------------------------

void
customer_keys_test (bool verbose)
{
    printf (" * customer_keys: ");
    assert (sodium_init () >= 0);
    char base [] = "/tmp/comptoir-keys-XXXXXX";
    assert (mkdtemp (base));
    char dir [128];
    snprintf (dir, sizeof dir, "%s/jwt", base);

    //  A first key at the first start, in a 0700 folder, secret 0600
    customer_keys_t *keys = customer_keys_new (dir);
    assert (keys);
    assert (customer_keys_refresh (keys) == -1);
    assert (customer_keys_ensure (keys) == 0);
    const char *first_kid = customer_keys_kid (keys);
    assert (first_kid && strlen (first_kid) == 17);
    char first [CUSTOMER_KEYS_KID_MAX + 1];
    snprintf (first, sizeof first, "%s", first_kid);
    struct stat info;
    assert (stat (dir, &info) == 0 && (info.st_mode & 0777) == 0700);
    char path [256];
    snprintf (path, sizeof path, "%s/%s.secret", dir, first);
    assert (stat (path, &info) == 0 && (info.st_mode & 0777) == 0600);
    //  ensure again: nothing new
    assert (customer_keys_ensure (keys) == 0);
    assert (streq (customer_keys_kid (keys), first));

    json_t *claims = json_pack ("{s:s, s:s, s:I}", "sub", "42", "role", "customer", "exp", (json_int_t) 2000000000);
    char *token = customer_keys_sign (keys, claims);
    assert (token);
    assert (strchr (token, '=') == NULL && strchr (token, '+') == NULL && strchr (token, '/') == NULL);
    json_t *back = customer_keys_verify (keys, token);
    assert (back && json_equal (back, claims));
    json_decref (back);

    //  A second reader of the same folder agrees
    customer_keys_t *other = customer_keys_new (dir);
    back = customer_keys_verify (other, token);
    assert (back);
    json_decref (back);

    //  Tampering: a changed payload, a changed header, alg none
    char *bad = strdup (token);
    char *payload = strchr (bad, '.') + 1;
    payload [3] = payload [3] == 'A' ? 'B' : 'A';
    assert (customer_keys_verify (keys, bad) == NULL);
    free (bad);
    json_t *none = json_pack ("{s:s, s:s}", "alg", "none", "kid", first);
    char *none_head = s_b64url_json (none);
    const char *rest = strchr (token, '.');
    char *forged = zsys_sprintf ("%s%s", none_head, rest);
    assert (customer_keys_verify (keys, forged) == NULL);
    zstr_free (&forged);
    free (none_head);
    json_decref (none);
    assert (customer_keys_verify (keys, "a.b") == NULL);
    assert (customer_keys_verify (keys, "a.b.c.d") == NULL);

    //  Rotation: the new key signs, the old one still verifies
    char second [CUSTOMER_KEYS_KID_MAX + 1];
    assert (customer_keys_rotate (other, second) == 0);
    assert (!streq (first, second));
    assert (streq (customer_keys_kid (keys), second));      //  seen without a restart
    json_t *jwks = customer_keys_jwks (keys);
    json_t *list = json_object_get (jwks, "keys");
    assert (json_array_size (list) == 2);
    assert (streq (json_string_value (json_object_get (json_array_get (list, 0), "kid")), second));
    assert (streq (json_string_value (json_object_get (json_array_get (list, 0), "kty")), "OKP"));
    assert (strlen (json_string_value (json_object_get (json_array_get (list, 0), "x"))) == 43);
    json_decref (jwks);
    back = customer_keys_verify (keys, token);
    assert (back);
    json_decref (back);
    char *newer = customer_keys_sign (keys, claims);
    back = customer_keys_verify (other, newer);
    assert (back);
    json_decref (back);

    //  Removing the old .pub retires it: its tokens fail, the new ones pass
    snprintf (path, sizeof path, "%s/%s.pub", dir, first);
    assert (unlink (path) == 0);
    assert (customer_keys_verify (keys, token) == NULL);
    back = customer_keys_verify (keys, newer);
    assert (back);
    json_decref (back);
    jwks = customer_keys_jwks (keys);
    assert (json_array_size (json_object_get (jwks, "keys")) == 1);
    json_decref (jwks);

    //  A secret that does not match its .pub never signs
    snprintf (path, sizeof path, "%s/%s.secret", dir, second);
    char zeros [130];
    memset (zeros, '0', 128);
    zeros [128] = '\n';
    zeros [129] = 0;
    assert (s_write_file (path, zeros, 0600) == 0);
    assert (customer_keys_refresh (keys) == -1);
    assert (customer_keys_sign (keys, claims) == NULL);

    free (newer);
    free (token);
    json_decref (claims);
    customer_keys_destroy (&other);
    customer_keys_destroy (&keys);
    assert (keys == NULL);
    char command [256];
    snprintf (command, sizeof command, "rm -rf '%s'", base);
    assert (system (command) == 0);
    if (verbose)
        printf ("(ensure, sign, verify, rotate, retire) ");
    printf ("OK\n");
}
