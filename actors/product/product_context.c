/*  =========================================================================
    product_context - the catalog context: its verb table and actor state

    Each worker actor opens its own connection to the product database (the
    `postgres/product` setting, or COMPTOIR_POSTGRES_PRODUCT) through
    contextdb, which applies the migrations (`product/migrations`) and, when
    `product/seed` names a file, the idempotent demo seed once per process
    before any actor serves.

    The first actor of instance 1 also runs the outbox relay (runtime/
    outbox_relay): a trigger writes product.updated in the outbox with
    every insert and update of a product (sql/product/0003), and the relay
    publishes them on product/events_publish and answers replays on
    product/events_replay. One relay per system; not starting it only
    delays the events, which wait in the outbox.
    =========================================================================
*/
#include "product_context.h"
#include "category_verbs.h"
#include "logline.h"
#include "product_verbs.h"

#include "contextdb.h"
#include "outbox_relay.h"

#include <stdlib.h>

static const contextnode_verb_t s_verbs [] = {
    { "category.list", category_list },
    { "category.create", category_create },
    { "category.update", category_update },
    { "category.delete", category_delete },
    { "product.list", product_list },
    { "product.get", product_get },
    { "product.get_by_sku", product_get_by_sku },
    { "product.get_by_barcode", product_get_by_barcode },
    { "product.get_many", product_get_many },
    { "product.create", product_create },
    { "product.update", product_update },
    { "product.delete", product_delete },
    { NULL, NULL }
};

//  --------------------------------------------------------------------------

static void *
s_make_state (settings_t *settings, int instance, int actor)
{
    product_state_t *self = (product_state_t *) zmalloc (sizeof (product_state_t));
    if (!self)
        return NULL;
    self->db = contextdb_open (settings, "product", NULL);
    if (!self->db) {
        log_error (NULL, "product: actor %d.%d cannot start", instance, actor);
        free (self);
        return NULL;
    }
    if (actor == 1 && instance == 1)
        self->relay = outbox_relay_start (settings, "product",
                                          settings_get (settings, "postgres/product", ""));
    return self;
}

//  --------------------------------------------------------------------------

static void
s_free_state (void **state_p)
{
    if (state_p && *state_p) {
        product_state_t *self = (product_state_t *) *state_p;
        actor_destroy (&self->relay);
        pgdb_destroy (&self->db);
        free (self);
        *state_p = NULL;
    }
}

const contextnode_def_t product_context_def = {
    .name = "product",
    .verbs = s_verbs,
    .make_state = s_make_state,
    .free_state = s_free_state
};
