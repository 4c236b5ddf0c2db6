/*  =========================================================================
    settings - one configuration file for the whole system

    A thin layer on zconfig. The one thing it adds is the environment
    override, looked up before the file on every read, so that a test or an
    operator can move one port or one connection string without writing a
    second file. Values read from the environment are kept in a small hash
    so that the pointers handed out stay valid for the life of the settings.
    =========================================================================
*/
#include "settings.h"
#include "logline.h"

#include <ctype.h>
#include <errno.h>

struct _settings_t {
    zconfig_t *root;            //  the parsed file (an empty root when none)
    char *filename;
};

//  --------------------------------------------------------------------------

settings_t *
settings_load (const char *path)
{
    settings_t *self = (settings_t *) zmalloc (sizeof (settings_t));
    if (!self)
        return NULL;
    if (path) {
        if (!zsys_file_exists (path)) {
            log_error (NULL, "configuration file %s does not exist", path);
            free (self);
            return NULL;
        }
        self->root = zconfig_load (path);
        if (!self->root) {
            log_error (NULL, "configuration file %s cannot be parsed (ZPL, RFC 4)", path);
            free (self);
            return NULL;
        }
        self->filename = strdup (path);
    }
    else
        self->root = zconfig_new ("root", NULL);
    if (!self->root)
        settings_destroy (&self);
    return self;
}

//  --------------------------------------------------------------------------

void
settings_destroy (settings_t **self_p)
{
    assert (self_p);
    settings_t *self = *self_p;
    if (self) {
        zconfig_destroy (&self->root);
        free (self->filename);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  The environment variable for a path: broker/heartbeat_ms ->
//  COMPTOIR_BROKER_HEARTBEAT_MS.

static void
s_env_name (const char *path, char *name, size_t size)
{
    size_t n = (size_t) snprintf (name, size, "COMPTOIR_");
    for (const char *p = path; *p && n + 1 < size; p++) {
        char c = *p;
        name [n++] = (c == '/' || c == '-' || c == '.') ? '_' : (char) toupper ((unsigned char) c);
    }
    name [n] = 0;
}

//  --------------------------------------------------------------------------

const char *
settings_get (settings_t *self, const char *path, const char *default_value)
{
    assert (self);
    char name [256];
    s_env_name (path, name, sizeof name);
    const char *env = getenv (name);
    if (env)
        return env;
    zconfig_t *item = zconfig_locate (self->root, path);
    if (item && zconfig_value (item))
        return zconfig_value (item);
    return default_value;
}

//  --------------------------------------------------------------------------

int64_t
settings_get_int (settings_t *self, const char *path, int64_t default_value)
{
    const char *text = settings_get (self, path, NULL);
    if (!text || !*text)
        return default_value;
    char *end = NULL;
    errno = 0;
    long long value = strtoll (text, &end, 10);
    if (errno || *end) {
        log_warn (NULL, "setting %s = '%s' is not an integer; using %lld", path, text,
                  (long long) default_value);
        return default_value;
    }
    return (int64_t) value;
}

//  --------------------------------------------------------------------------

bool
settings_get_bool (settings_t *self, const char *path, bool default_value)
{
    const char *text = settings_get (self, path, NULL);
    if (!text || !*text)
        return default_value;
    if (streq (text, "1") || strcasecmp (text, "true") == 0 || strcasecmp (text, "yes") == 0
    ||  strcasecmp (text, "on") == 0)
        return true;
    if (streq (text, "0") || strcasecmp (text, "false") == 0 || strcasecmp (text, "no") == 0
    ||  strcasecmp (text, "off") == 0)
        return false;
    log_warn (NULL, "setting %s = '%s' is not a boolean; using %s", path, text,
              default_value ? "true" : "false");
    return default_value;
}

//  --------------------------------------------------------------------------

void
settings_apply_log_level (settings_t *self, const char *process)
{
    if (getenv ("COMPTOIR_LOG_LEVEL")) {
        logline_init (process, -1);
        return;
    }
    const char *name = settings_get (self, "comptoir/log_level", "info");
    int level = logline_level_of (name);
    if (level < 0) {
        logline_init (process, LOGLINE_INFO);
        log_warn (NULL, "comptoir/log_level = '%s' is not debug, info, warn or error; using info",
                  name);
    }
    else
        logline_init (process, level);
}

//  --------------------------------------------------------------------------

zconfig_t *
settings_locate (settings_t *self, const char *path)
{
    assert (self);
    return zconfig_locate (self->root, path);
}

const char *
settings_filename (settings_t *self)
{
    assert (self);
    return self->filename;
}

//  --------------------------------------------------------------------------

void
settings_test (bool verbose)
{
    printf (" * settings: ");
    char path [] = "/tmp/comptoir-settings-XXXXXX";
    int fd = mkstemp (path);
    assert (fd >= 0);
    const char *text =
        "broker\n"
        "    heartbeat_ms = 250\n"
        "    bad_number = \"12x\"\n"
        "    flag = \"yes\"\n"
        "edge\n"
        "    consumers\n"
        "        web\n"
        "            key = \"k1\"\n"
        "        pos\n"
        "            key = \"k2\"\n";
    assert (write (fd, text, strlen (text)) == (ssize_t) strlen (text));
    close (fd);

    settings_t *settings = settings_load (path);
    assert (settings);
    assert (streq (settings_filename (settings), path));
    assert (settings_get_int (settings, "broker/heartbeat_ms", 0) == 250);
    assert (settings_get_int (settings, "broker/missing", 7) == 7);
    assert (settings_get_int (settings, "broker/bad_number", 9) == 9);
    assert (settings_get_bool (settings, "broker/flag", false));
    assert (streq (settings_get (settings, "broker/missing", "dflt"), "dflt"));

    //  The environment wins over the file
    setenv ("COMPTOIR_BROKER_HEARTBEAT_MS", "100", 1);
    assert (settings_get_int (settings, "broker/heartbeat_ms", 0) == 100);
    unsetenv ("COMPTOIR_BROKER_HEARTBEAT_MS");
    setenv ("COMPTOIR_EDGE_ADMIN_PORT", "9", 1);
    assert (settings_get_int (settings, "edge/admin-port", 0) == 9);
    unsetenv ("COMPTOIR_EDGE_ADMIN_PORT");

    //  Children can be walked
    zconfig_t *consumers = settings_locate (settings, "edge/consumers");
    assert (consumers);
    int count = 0;
    for (zconfig_t *c = zconfig_child (consumers); c; c = zconfig_next (c))
        count++;
    assert (count == 2);
    settings_destroy (&settings);
    assert (settings == NULL);

    //  A missing file is refused; no file at all gives defaults
    assert (settings_load ("/nonexistent/comptoir.cfg") == NULL);
    settings = settings_load (NULL);
    assert (settings);
    assert (settings_get_int (settings, "edge/port", 8080) == 8080);
    settings_destroy (&settings);
    unlink (path);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}
