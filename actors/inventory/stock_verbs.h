/*  =========================================================================
    stock_verbs - locations, stock levels, adjustments, the journal, alerts

    Each takes the request envelope and the actor's inventory_state_t and
    returns the reply envelope (never NULL). Shapes and errors follow
    API.md, Inventory.
    =========================================================================
*/
#ifndef COMPTOIR_STOCK_VERBS_H
#define COMPTOIR_STOCK_VERBS_H

#include "envelope.h"

//  The timestamp format of every answer (RFC 3339, UTC), for SQL.
#define INVENTORY_TIME(column) \
    "to_char (" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

envelope_t *location_list (const envelope_t *request, void *state);
envelope_t *stock_list (const envelope_t *request, void *state);
envelope_t *stock_get (const envelope_t *request, void *state);
envelope_t *stock_adjust (const envelope_t *request, void *state);
envelope_t *movement_list (const envelope_t *request, void *state);
envelope_t *alert_list (const envelope_t *request, void *state);

#endif
