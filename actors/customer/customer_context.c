/*  =========================================================================
    customer_context - the identity context: its verb table and actor state

    Each worker actor opens its own connection to the customer database (the
    `postgres/customer` setting, or COMPTOIR_POSTGRES_CUSTOMER) and its own
    view of the signing keys (`auth/jwt_keys_dir`). contextdb applies the
    migrations (`customer/migrations`) once per process before any actor
    serves; the first signing key is created when there is none, under the
    keys' lock file so two processes never both create one.
    =========================================================================
*/
#include "customer_context.h"
#include "address_verbs.h"
#include "auth_verbs.h"
#include "customer_verbs.h"
#include "contextdb.h"
#include "logline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    int64_t failures, window, lock, slow_after, slow_base;
    int rc = 0;
    rc |= s_setting_int (settings, "auth/customer_ttl_s", 3600, 60, 86400 * 30, &auth->customer_ttl_s);
    rc |= s_setting_int (settings, "auth/staff_ttl_s", 43200, 60, 86400 * 30, &auth->staff_ttl_s);
    rc |= s_setting_int (settings, "auth/lockout_failures", 5, 1, 1000, &failures);
    rc |= s_setting_int (settings, "auth/lockout_window_s", 900, 1, 86400 * 7, &window);
    rc |= s_setting_int (settings, "auth/lockout_s", 900, 1, 86400 * 7, &lock);
    rc |= s_setting_int (settings, "auth/slowdown_after", 2, 1, 1000, &slow_after);
    rc |= s_setting_int (settings, "auth/slowdown_base_s", 1, 1, 3600, &slow_base);
    auth->lockout_failures = (int) failures;
    auth->lockout_window_s = (int) window;
    auth->lockout_s = (int) lock;
    auth->slowdown_after = (int) slow_after;
    auth->slowdown_base_s = (int) slow_base;
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

//  Once per process, after the migrations: attempts of windows long over
//  are noise, so they are cleared at start.
static int
s_clear_old_attempts (pgdb_t *db, settings_t *settings)
{
    if (pgdb_run (db, "DELETE FROM login_attempts WHERE window_start < now () - interval '7 days'"
                      " AND (locked_until IS NULL OR locked_until < now ())"))
        log_warn (NULL, "customer: cannot clear old login attempts: %s", pgdb_error (db));
    return 0;
}

//  --------------------------------------------------------------------------

pgdb_t *
customer_context_database (settings_t *settings)
{
    return contextdb_open (settings, "customer", s_clear_old_attempts);
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
