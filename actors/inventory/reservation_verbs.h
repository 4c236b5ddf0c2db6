/*  =========================================================================
    reservation_verbs - stock held for a checkout, by another context

    The order context calls these through the broker (role "service",
    consumer "order"), never an HTTP client. Each takes the request
    envelope and the actor's inventory_state_t and returns the reply
    envelope (never NULL).

    reservation.reserve  data {reservation_id, reference?, location_id?
                         or store_id? (that store's active location, 404
                         when it has none; both: 400; neither: the active
                         web location), lines: [{product_id, quantity}],
                         ttl_s?}: 201 the reservation (200 when the same
                         request made it already; 409 conflict when the
                         id holds other lines), or 409
                         out_of_stock with details [{product_id, requested,
                         available}] naming every short line; nothing held.
    reservation.commit   data {reservation_id, reference?}: the held stock
                         leaves (on_hand and reserved down, movement
                         "order"). 200; again on a committed one: 200.
    reservation.release  data {reservation_id}: reserved down. 200; again,
                         or on an expired one: 200. Committed: 409.
    reservation.restock  data {reservation_id}: a committed reservation's
                         goods come back (movement "order_cancel"). 200.
    reservation.get      data {reservation_id}: the reservation.
    =========================================================================
*/
#ifndef COMPTOIR_RESERVATION_VERBS_H
#define COMPTOIR_RESERVATION_VERBS_H

#include "envelope.h"
#include "pgdb.h"

envelope_t *reservation_reserve (const envelope_t *request, void *state);
envelope_t *reservation_commit (const envelope_t *request, void *state);
envelope_t *reservation_release (const envelope_t *request, void *state);
envelope_t *reservation_restock (const envelope_t *request, void *state);
envelope_t *reservation_get (const envelope_t *request, void *state);

//  Release up to limit held reservations past their expiry, each in its own
//  transaction, skipping those another sweeper holds. Returns how many were
//  released, or -1 when the database failed.
int inventory_reservation_sweep (pgdb_t *db, int limit);

#endif
