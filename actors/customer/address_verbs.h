/*  =========================================================================
    address_verbs - the handlers of the address.* verbs: a customer's own
    shipping and billing addresses. Every statement names the caller's
    customer id, so another customer's address is simply not found (404).
    =========================================================================
*/
#ifndef COMPTOIR_ADDRESS_VERBS_H
#define COMPTOIR_ADDRESS_VERBS_H

#include "envelope.h"

envelope_t *address_list (const envelope_t *request, void *state);
envelope_t *address_get (const envelope_t *request, void *state);
envelope_t *address_create (const envelope_t *request, void *state);
envelope_t *address_update (const envelope_t *request, void *state);
envelope_t *address_delete (const envelope_t *request, void *state);

#endif
