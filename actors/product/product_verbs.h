/*  =========================================================================
    product_verbs - the handlers of the product.* verbs

    Each takes the request envelope and the actor's product_state_t and
    returns the reply envelope (never NULL). Shapes and errors follow
    docs/API.md, Catalog.
    =========================================================================
*/
#ifndef COMPTOIR_PRODUCT_VERBS_H
#define COMPTOIR_PRODUCT_VERBS_H

#include "envelope.h"

envelope_t *product_list (const envelope_t *request, void *state);
envelope_t *product_get (const envelope_t *request, void *state);
envelope_t *product_get_by_sku (const envelope_t *request, void *state);
envelope_t *product_create (const envelope_t *request, void *state);
envelope_t *product_update (const envelope_t *request, void *state);
envelope_t *product_delete (const envelope_t *request, void *state);

#endif
