/*  =========================================================================
    cart_context - the cart context: its verb table and actor state

    Each worker actor opens its own Redis connection (redis/host,
    redis/port; timeouts cart/redis_connect_timeout_ms and
    cart/redis_command_timeout_ms, short on purpose so that a missing Redis
    is a fast 503) and its own Majordomo client of the broker, with the
    process's certificate, to ask the catalog for prices. The catalog call
    is synchronous, and the actor's Majordomo worker sends no heartbeat
    while it waits, so its deadline (cart/catalog_timeout_ms) is capped at
    half of the broker's silence limit (heartbeat_ms x liveness): a slow or
    absent catalog is a 503, never a cart worker declared dead. Neither connects
    at start: an actor comes up even while Redis is away, answers 503, and
    serves again as soon as Redis is back.
    =========================================================================
*/
#include "cart_context.h"
#include "cart_verbs.h"
#include "curvekeys.h"
#include "logline.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

static const contextnode_verb_t s_verbs [] = {
    { "cart.create", cart_create },
    { "cart.get", cart_get },
    { "cart.add_item", cart_add_item },
    { "cart.set_item", cart_set_item },
    { "cart.remove_item", cart_remove_item },
    { "cart.delete", cart_delete },
    { "cart.claim", cart_claim },
    { NULL, NULL }
};

//  --------------------------------------------------------------------------

static void
s_free_state (void **state_p)
{
    if (state_p && *state_p) {
        cart_state_t *self = (cart_state_t *) *state_p;
        redisdb_destroy (&self->redis);
        mdp_client_destroy (&self->catalog);
        free (self);
        *state_p = NULL;
    }
}

//  --------------------------------------------------------------------------

static void *
s_make_state (settings_t *settings, int instance, int actor)
{
    if (sodium_init () < 0) {
        log_error (NULL, "cart: libsodium cannot start");
        return NULL;
    }
    cart_state_t *self = (cart_state_t *) zmalloc (sizeof (cart_state_t));
    if (!self)
        return NULL;
    snprintf (self->served_by, sizeof self->served_by, "cart-%d.%d", instance, actor);
    self->ttl_s = settings_get_int (settings, "cart/ttl_s", 86400);
    if (self->ttl_s < 1 || self->ttl_s > 30 * 86400)
        self->ttl_s = 86400;
    //  While it waits for the catalog the actor sends no heartbeat to the
    //  broker: the wait must end well before the broker gives up on it.
    int64_t silence = settings_get_int (settings, "broker/heartbeat_ms", 250)
                    * settings_get_int (settings, "broker/liveness", 4);
    int64_t timeout = settings_get_int (settings, "cart/catalog_timeout_ms", 500);
    if (timeout > silence / 2)
        timeout = silence / 2;
    self->catalog_timeout_ms = timeout >= 10 ? (int) timeout : 10;
    int64_t port = settings_get_int (settings, "redis/port", 6380);
    self->redis = redisdb_new (settings_get (settings, "redis/host", "127.0.0.1"),
                               port > 0 && port < 65536 ? (int) port : 6380,
                               (int) settings_get_int (settings, "cart/redis_connect_timeout_ms", 200),
                               (int) settings_get_int (settings, "cart/redis_command_timeout_ms", 500));
    if (self->redis)
        redisdb_set_retry_pause (self->redis,
                                 (int) settings_get_int (settings, "cart/redis_retry_pause_ms", 100));

    //  The catalog client: the process's own certificate (the broker admits it)
    const char *keys_dir = settings_get (settings, "keys/dir", "var/keys");
    char name [32], broker [512];
    snprintf (name, sizeof name, "cart-%d", instance);
    snprintf (broker, sizeof broker, "%s/broker", keys_dir);
    zcert_t *cert = curvekeys_ensure (keys_dir, name, true);
    char *server_key = curvekeys_public_of (broker);
    if (cert && server_key)
        self->catalog = mdp_client_new (settings_get (settings, "broker/endpoint", "tcp://127.0.0.1:5555"),
                                        cert, server_key);
    zcert_destroy (&cert);
    free (server_key);
    if (!self->redis || !self->catalog) {
        log_error (NULL, "cart: actor %d.%d cannot start (%s)", instance, actor,
                   self->redis ? "no broker client: keys?" : "bad redis settings");
        s_free_state ((void **) &self);
        return NULL;
    }
    mdp_client_set_timeout (self->catalog, self->catalog_timeout_ms);
    return self;
}

const contextnode_def_t cart_context_def = {
    .name = "cart",
    .verbs = s_verbs,
    .make_state = s_make_state,
    .free_state = s_free_state
};
