/*  =========================================================================
    edge_keys - the API keys of the consumers (web store, POS, apps)

    A zhashx maps the hex of each key's BLAKE2b-256 hash to its consumer.
    See edge_keys.h for why hashes and constant-time compares.
    =========================================================================
*/
#include "edge_keys.h"
#include "logline.h"

#include <sodium.h>
#include <string.h>

#define KEY_HASH_SIZE  crypto_generichash_BYTES     //  32

typedef struct {
    char *consumer;
    unsigned char hash [KEY_HASH_SIZE];
} s_entry_t;

struct _edge_keys_t {
    zhashx_t *entries;      //  hex(hash) -> s_entry_t
};

//  --------------------------------------------------------------------------

static void
s_entry_destroy (s_entry_t **entry_p)
{
    s_entry_t *entry = *entry_p;
    if (entry) {
        free (entry->consumer);
        free (entry);
        *entry_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Create an empty table.

edge_keys_t *
edge_keys_new (void)
{
    if (sodium_init () < 0)
        return NULL;
    edge_keys_t *self = (edge_keys_t *) zmalloc (sizeof (edge_keys_t));
    self->entries = zhashx_new ();
    if (!self->entries) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->entries, (zhashx_destructor_fn *) s_entry_destroy);
    return self;
}

//  --------------------------------------------------------------------------

void
edge_keys_destroy (edge_keys_t **self_p)
{
    assert (self_p);
    edge_keys_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->entries);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------

static void
s_hash_key (const char *key, size_t len, unsigned char hash [KEY_HASH_SIZE],
            char hex [KEY_HASH_SIZE * 2 + 1])
{
    crypto_generichash (hash, KEY_HASH_SIZE, (const unsigned char *) key, len, NULL, 0);
    sodium_bin2hex (hex, KEY_HASH_SIZE * 2 + 1, hash, KEY_HASH_SIZE);
}

//  --------------------------------------------------------------------------
//  Add a consumer's key.

int
edge_keys_add (edge_keys_t *self, const char *consumer, const char *key)
{
    assert (self);
    if (!consumer || !*consumer || !key)
        return -1;
    size_t len = strlen (key);
    if (len < EDGE_KEY_MIN || len > EDGE_KEY_MAX)
        return -1;
    s_entry_t *entry = (s_entry_t *) zmalloc (sizeof (s_entry_t));
    entry->consumer = strdup (consumer);
    char hex [KEY_HASH_SIZE * 2 + 1];
    s_hash_key (key, len, entry->hash, hex);
    if (!entry->consumer || zhashx_insert (self->entries, hex, entry) != 0) {
        s_entry_destroy (&entry);
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Create a key file with a fresh random key. Returns 0 or -1.

static int
s_key_file_create (const char *path)
{
    char *dir = strdup (path);
    if (!dir)
        return -1;
    char *slash = strrchr (dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        zsys_dir_create ("%s", dir);
    }
    free (dir);
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return errno == EEXIST ? 0 : -1;        //  someone else made it first
    unsigned char random [32];
    randombytes_buf (random, sizeof random);
    char key [sizeof random * 2 + 2];
    sodium_bin2hex (key, sizeof key, random, sizeof random);
    sodium_memzero (random, sizeof random);
    size_t len = strlen (key);
    key [len++] = '\n';
    bool ok = write (fd, key, len) == (ssize_t) len;
    sodium_memzero (key, sizeof key);
    if (close (fd) != 0)
        ok = false;
    return ok ? 0 : -1;
}

//  --------------------------------------------------------------------------
//  Read a key from a file, trimmed. Returns a new string or NULL.

static char *
s_key_file_read (const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return NULL;
    char buffer [EDGE_KEY_MAX + 64];
    size_t size = fread (buffer, 1, sizeof buffer - 1, file);
    fclose (file);
    buffer [size] = 0;
    char *start = buffer;
    while (*start && isspace ((unsigned char) *start))
        start++;
    char *end = start + strlen (start);
    while (end > start && isspace ((unsigned char) end [-1]))
        *--end = 0;
    char *key = strdup (start);
    sodium_memzero (buffer, sizeof buffer);
    return key;
}

//  --------------------------------------------------------------------------
//  Load every consumer from the settings.

int
edge_keys_load (edge_keys_t *self, settings_t *settings)
{
    assert (self);
    zconfig_t *consumers = settings_locate (settings, "edge/consumers");
    int loaded = 0;
    for (zconfig_t *child = consumers ? zconfig_child (consumers) : NULL;
         child; child = zconfig_next (child)) {
        const char *name = zconfig_name (child);
        char path [300];
        snprintf (path, sizeof path, "edge/consumers/%s/key", name);
        const char *value = settings_get (settings, path, "");
        char *key = NULL;
        if (*value)
            key = strdup (value);
        else {
            snprintf (path, sizeof path, "edge/consumers/%s/key_file", name);
            const char *key_file = settings_get (settings, path, "");
            if (!*key_file) {
                log_error (NULL, "consumer %s has neither key nor key_file", name);
                return -1;
            }
            if (s_key_file_create (key_file)) {
                log_error (NULL, "cannot create the key file %s of consumer %s: %s",
                           key_file, name, strerror (errno));
                return -1;
            }
            key = s_key_file_read (key_file);
            if (!key) {
                log_error (NULL, "cannot read the key file %s of consumer %s", key_file, name);
                return -1;
            }
        }
        int rc = edge_keys_add (self, name, key);
        sodium_memzero (key, strlen (key));
        free (key);
        if (rc) {
            log_error (NULL, "consumer %s: key must be %d..%d characters and unique",
                       name, EDGE_KEY_MIN, EDGE_KEY_MAX);
            return -1;
        }
        loaded++;
    }
    return loaded;
}

//  --------------------------------------------------------------------------
//  Find the consumer of a key.

const char *
edge_keys_lookup (edge_keys_t *self, const char *key)
{
    assert (self);
    if (!key)
        return NULL;
    size_t len = strlen (key);
    if (len < EDGE_KEY_MIN || len > EDGE_KEY_MAX)
        return NULL;
    unsigned char hash [KEY_HASH_SIZE];
    char hex [KEY_HASH_SIZE * 2 + 1];
    s_hash_key (key, len, hash, hex);
    s_entry_t *entry = (s_entry_t *) zhashx_lookup (self->entries, hex);
    if (!entry || sodium_memcmp (entry->hash, hash, KEY_HASH_SIZE) != 0)
        return NULL;
    return entry->consumer;
}

//  --------------------------------------------------------------------------

size_t
edge_keys_size (edge_keys_t *self)
{
    assert (self);
    return zhashx_size (self->entries);
}

//  --------------------------------------------------------------------------
//  Self test

void
edge_keys_test (bool verbose)
{
    printf (" * edge_keys: ");
    edge_keys_t *keys = edge_keys_new ();
    assert (keys);
    assert (edge_keys_add (keys, "web", "0123456789abcdef-web") == 0);
    assert (edge_keys_add (keys, "pos", "0123456789abcdef-pos") == 0);
    assert (edge_keys_add (keys, "short", "tooshort") == -1);
    assert (edge_keys_add (keys, "copy", "0123456789abcdef-web") == -1);
    assert (edge_keys_size (keys) == 2);
    assert (streq (edge_keys_lookup (keys, "0123456789abcdef-web"), "web"));
    assert (streq (edge_keys_lookup (keys, "0123456789abcdef-pos"), "pos"));
    assert (edge_keys_lookup (keys, "0123456789abcdef-xxx") == NULL);
    assert (edge_keys_lookup (keys, "0123456789abcdef-we") == NULL);
    assert (edge_keys_lookup (keys, "") == NULL);
    assert (edge_keys_lookup (keys, NULL) == NULL);
    edge_keys_destroy (&keys);
    assert (keys == NULL);

    //  From settings: an inline key, an existing key file (trimmed), and a
    //  key file created on first start
    char dir [] = "/tmp/edge_keys_test_XXXXXX";
    assert (mkdtemp (dir));
    char *pos_file = zsys_sprintf ("%s/pos.key", dir);
    char *app_file = zsys_sprintf ("%s/sub/app.key", dir);
    char *cfg_file = zsys_sprintf ("%s/test.cfg", dir);
    FILE *file = fopen (pos_file, "w");
    assert (file);
    fprintf (file, "  pos-key-from-a-file-0001 \n\n");
    fclose (file);
    file = fopen (cfg_file, "w");
    assert (file);
    fprintf (file, "edge\n    consumers\n"
                   "        web\n            key = \"web-key-inline-000001\"\n"
                   "        pos\n            key_file = \"%s\"\n"
                   "        app\n            key_file = \"%s\"\n", pos_file, app_file);
    fclose (file);
    settings_t *settings = settings_load (cfg_file);
    assert (settings);
    keys = edge_keys_new ();
    assert (edge_keys_load (keys, settings) == 3);
    assert (streq (edge_keys_lookup (keys, "web-key-inline-000001"), "web"));
    assert (streq (edge_keys_lookup (keys, "pos-key-from-a-file-0001"), "pos"));
    char *app_key = s_key_file_read (app_file);
    assert (app_key && strlen (app_key) == 64);
    assert (streq (edge_keys_lookup (keys, app_key), "app"));
    struct stat st;
    assert (stat (app_file, &st) == 0);
    assert ((st.st_mode & 0777) == 0600);
    edge_keys_destroy (&keys);

    //  A second load reads the same generated key
    keys = edge_keys_new ();
    assert (edge_keys_load (keys, settings) == 3);
    assert (streq (edge_keys_lookup (keys, app_key), "app"));
    edge_keys_destroy (&keys);
    settings_destroy (&settings);
    free (app_key);

    unlink (pos_file);
    unlink (app_file);
    unlink (cfg_file);
    char *sub = zsys_sprintf ("%s/sub", dir);
    rmdir (sub);
    rmdir (dir);
    zstr_free (&sub);
    zstr_free (&pos_file);
    zstr_free (&app_file);
    zstr_free (&cfg_file);
    printf ("OK\n");
}
