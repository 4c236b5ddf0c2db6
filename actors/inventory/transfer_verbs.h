/*  =========================================================================
    transfer_verbs - moving stock between locations

    requested -> approved -> delivered, or cancelled from requested or
    approved. Each takes the request envelope and the actor's
    inventory_state_t and returns the reply envelope (never NULL).
    =========================================================================
*/
#ifndef COMPTOIR_TRANSFER_VERBS_H
#define COMPTOIR_TRANSFER_VERBS_H

#include "envelope.h"

envelope_t *transfer_create (const envelope_t *request, void *state);
envelope_t *transfer_approve (const envelope_t *request, void *state);
envelope_t *transfer_deliver (const envelope_t *request, void *state);
envelope_t *transfer_cancel (const envelope_t *request, void *state);
envelope_t *transfer_list (const envelope_t *request, void *state);
envelope_t *transfer_get (const envelope_t *request, void *state);

#endif
