/*  =========================================================================
    cart_verbs - the handlers of the cart.* verbs

    Each takes the request envelope and the actor's cart_state_t.
    =========================================================================
*/
#ifndef COMPTOIR_CART_VERBS_H
#define COMPTOIR_CART_VERBS_H

#include "envelope.h"

envelope_t *cart_create (const envelope_t *request, void *state);
envelope_t *cart_get (const envelope_t *request, void *state);
envelope_t *cart_add_item (const envelope_t *request, void *state);
envelope_t *cart_set_item (const envelope_t *request, void *state);
envelope_t *cart_remove_item (const envelope_t *request, void *state);
envelope_t *cart_delete (const envelope_t *request, void *state);
envelope_t *cart_claim (const envelope_t *request, void *state);

//  Whether text is a cart id as we make them (32 lower-case hex digits).
bool cart_verbs_valid_id (const char *text);

#endif
