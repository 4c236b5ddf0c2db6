/*  =========================================================================
    order_verbs - the handlers of the order.* verbs and the checkout saga

    Each handler takes the request envelope and the actor's order_state_t
    and returns the reply envelope (never NULL).

    order.checkout    customer; envelope idem_key required; data {cart_id,
                      shipping_address {...} or shipping_address_id,
                      payment {method: "card", token}}: 201 the order
                      (confirmed) · 409 out_of_stock · 402 payment_declined
                      · 400 empty cart · 504 gateway timeout. A replayed
                      answer carries the request's idem_key in the reply
                      envelope (first answers carry none): the edge turns it
                      into `Idempotent-Replayed: true`.
    order.get         params id: own order (customer) or any (manager, admin).
    order.list        params status?, page?, per_page?, customer_id? (staff).
    order.cancel      params id: owner or manager/admin, from pending or
                      confirmed: cancelled, stock back, payment voided/refunded.
    order.set_status  params id, data {status}: manager/admin, confirmed ->
                      shipped -> delivered; anything else 409 invalid_state.
    =========================================================================
*/
#ifndef COMPTOIR_ORDER_VERBS_H
#define COMPTOIR_ORDER_VERBS_H

#include "envelope.h"
#include "order_context.h"

envelope_t *order_checkout (const envelope_t *request, void *state);
envelope_t *order_get (const envelope_t *request, void *state);
envelope_t *order_list (const envelope_t *request, void *state);
envelope_t *order_cancel (const envelope_t *request, void *state);
envelope_t *order_set_status (const envelope_t *request, void *state);

//  Shipping: 999 cents under a subtotal of 7500, free at or above.
int64_t order_shipping_cents (int64_t subtotal_cents);

//  Drive checkouts left unfinished for more than older_than_s seconds to a
//  final state (undo: release or restock, void, cancelled; or finish when
//  the order was confirmed), settle the Idempotency-Keys a crash left
//  running, and delete up to 1,000 keys past their 24 hours. At most limit
//  orders and keys. Returns how many orders and keys were settled, -1 on a
//  db failure.
int order_saga_recover (order_state_t *self, int64_t older_than_s, int limit);

#endif
