/*  =========================================================================
    customer_context - the identity context: its verb table and actor state

    Each worker actor opens its own connection to the customer database (the
    `postgres/customer` setting, or COMPTOIR_POSTGRES_CUSTOMER) and its own
    view of the signing keys (`auth/jwt_keys_dir`). The first actor of a
    process to start applies the migrations (`customer/migrations`) and
    creates the first signing key when there is none; the others wait for
    it. Across processes, pgdb_migrate's advisory lock and the keys' lock
    file do the same.
    =========================================================================
*/
#include "customer_context.h"
#include "address_verbs.h"
#include "auth_verbs.h"
#include "customer_verbs.h"
#include "logline.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef COMPTOIR_DATADIR
#   define COMPTOIR_DATADIR "/usr/local/share/comptoir"
#endif

static const contextnode_verb_t s_verbs [] = {
    { "auth.register", auth_register },
    { "auth.login", auth_login },
    { "auth.staff_login", auth_staff_login },
    { "auth.jwks", auth_jwks },
    { "customer.me_get", customer_me_get },
    { "customer.me_update", customer_me_update },
    { "customer.list", customer_list },
    { "customer.get", customer_get },
    { "address.list", address_list },
    { "address.get", address_get },
    { "address.create", address_create },
    { "address.update", address_update },
    { "address.delete", address_delete },
    { NULL, NULL }
};

//  Once per process: the schema is ready. Guarded by s_schema_lock.
static pthread_mutex_t s_schema_lock = PTHREAD_MUTEX_INITIALIZER;
static bool s_schema_ready = false;

//  --------------------------------------------------------------------------

static bool
s_is_dir (const char *path)
{
    struct stat info;
    return stat (path, &info) == 0 && S_ISDIR (info.st_mode);
}

//  The migrations folder: as given when it exists, else under the installed
//  data directory. Returns a new string.
static char *
s_sql_dir (const char *dir)
{
    if (!dir || !*dir)
        dir = "sql/customer";
    if (dir [0] == '/' || s_is_dir (dir))
        return strdup (dir);
    char *installed = zsys_sprintf ("%s/%s", COMPTOIR_DATADIR, dir);
    if (installed && s_is_dir (installed))
        return installed;
    zstr_free (&installed);
    return strdup (dir);
}

//  --------------------------------------------------------------------------

static int
s_setting_int (settings_t *settings, const char *path, int64_t fallback, int64_t min,
               int64_t max, int64_t *value)
{
    *value = settings_get_int (settings, path, fallback);
    if (*value < min || *value > max) {
        log_error (NULL, "%s must be between %lld and %lld", path, (long long) min, (long long) max);
        return -1;
    }
    return 0;
}

int
customer_context_auth (settings_t *settings, customer_auth_t *auth)
{
    memset (auth, 0, sizeof *auth);
    int64_t failures, window, lock;
    int rc = 0;
    rc |= s_setting_int (settings, "auth/customer_ttl_s", 3600, 60, 86400 * 30, &auth->customer_ttl_s);
    rc |= s_setting_int (settings, "auth/staff_ttl_s", 43200, 60, 86400 * 30, &auth->staff_ttl_s);
    rc |= s_setting_int (settings, "auth/lockout_failures", 5, 1, 1000, &failures);
    rc |= s_setting_int (settings, "auth/lockout_window_s", 900, 1, 86400 * 7, &window);
    rc |= s_setting_int (settings, "auth/lockout_s", 900, 1, 86400 * 7, &lock);
    auth->lockout_failures = (int) failures;
    auth->lockout_window_s = (int) window;
    auth->lockout_s = (int) lock;
    auth->cost = customer_password_cost (settings);
    auth->issuer = strdup (settings_get (settings, "auth/issuer", "comptoir"));
    auth->audience = strdup (settings_get (settings, "auth/audience", "comptoir-api"));
    if (!auth->issuer || !auth->audience || !*auth->issuer || !*auth->audience) {
        log_error (NULL, "auth/issuer and auth/audience must not be empty");
        rc = -1;
    }
    if (rc)
        customer_context_auth_free (auth);
    return rc ? -1 : 0;
}

void
customer_context_auth_free (customer_auth_t *auth)
{
    free (auth->issuer);
    free (auth->audience);
    auth->issuer = auth->audience = NULL;
}

//  --------------------------------------------------------------------------

const char *
customer_context_keys_dir (settings_t *settings)
{
    return settings_get (settings, "auth/jwt_keys_dir", "var/keys/jwt");
}

//  --------------------------------------------------------------------------

static int
s_prepare_schema (settings_t *settings, pgdb_t *db)
{
    int rc = 0;
    pthread_mutex_lock (&s_schema_lock);
    if (!s_schema_ready) {
        char *dir = s_sql_dir (settings_get (settings, "customer/migrations", "sql/customer"));
        int applied = dir ? pgdb_migrate (db, dir) : -1;
        if (applied < 0)
            rc = -1;
        else {
            log_info (NULL, "customer: schema ready (%d migrations applied from %s)", applied, dir);
            //  Attempts of windows long over are noise: clear them at start.
            if (pgdb_run (db, "DELETE FROM login_attempts WHERE window_start < now () - interval '7 days'"
                              " AND (locked_until IS NULL OR locked_until < now ())"))
                log_warn (NULL, "customer: cannot clear old login attempts: %s", pgdb_error (db));
        }
        zstr_free (&dir);
        s_schema_ready = rc == 0;
    }
    pthread_mutex_unlock (&s_schema_lock);
    return rc;
}

//  --------------------------------------------------------------------------

pgdb_t *
customer_context_database (settings_t *settings)
{
    const char *conninfo = settings_get (settings, "postgres/customer", "");
    if (!conninfo || !*conninfo) {
        log_error (NULL, "customer: no database: set postgres/customer (or COMPTOIR_POSTGRES_CUSTOMER)");
        return NULL;
    }
    pgdb_t *db = pgdb_new (conninfo);
    if (!db || pgdb_connect (db) || s_prepare_schema (settings, db)) {
        log_error (NULL, "customer: database not ready: %s %s",
                   db ? pgdb_sqlstate (db) : "", db ? pgdb_error (db) : "");
        pgdb_destroy (&db);
    }
    return db;
}

//  --------------------------------------------------------------------------

static void s_free_state (void **state_p);

static void *
s_make_state (settings_t *settings, int instance, int actor)
{
    if (sodium_init () < 0) {
        log_error (NULL, "customer: libsodium cannot start");
        return NULL;
    }
    customer_state_t *self = (customer_state_t *) zmalloc (sizeof (customer_state_t));
    if (!self)
        return NULL;
    bool ok = customer_context_auth (settings, &self->auth) == 0;
    if (ok) {
        self->keys = customer_keys_new (customer_context_keys_dir (settings));
        ok = self->keys && customer_keys_ensure (self->keys) == 0;
    }
    if (ok) {
        //  a password nobody knows, hashed at the configured cost
        unsigned char random [24];
        char secret [64];
        randombytes_buf (random, sizeof random);
        sodium_bin2hex (secret, sizeof secret, random, sizeof random);
        ok = customer_password_hash (&self->auth.cost, secret, self->dummy_hash) == 0;
    }
    if (ok) {
        self->db = customer_context_database (settings);
        ok = self->db != NULL;
    }
    if (!ok) {
        log_error (NULL, "customer: actor %d.%d cannot start", instance, actor);
        void *state = self;
        s_free_state (&state);
        return NULL;
    }
    return self;
}

//  --------------------------------------------------------------------------

static void
s_free_state (void **state_p)
{
    if (state_p && *state_p) {
        customer_state_t *self = (customer_state_t *) *state_p;
        pgdb_destroy (&self->db);
        if (self->keys)
            customer_keys_destroy (&self->keys);
        customer_context_auth_free (&self->auth);
        free (self);
        *state_p = NULL;
    }
}

const contextnode_def_t customer_context_def = {
    .name = "customer",
    .verbs = s_verbs,
    .make_state = s_make_state,
    .free_state = s_free_state
};
