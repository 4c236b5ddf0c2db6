/*  =========================================================================
    pos_stock_verbs - stock taken and given back by the point of sale

    The sales context calls these through the broker (role "service",
    consumer "sales"), never an HTTP client. Each takes the request
    envelope and the actor's inventory_state_t and returns the reply
    envelope (never NULL). The store's location is the active location of
    type store whose store_id is the one given; none is 404.

    stock.sell       data {sale_ref, store_id, lines: [{product_id,
                     quantity}]}: every line leaves the store's shelf
                     (movement "sale", reference sale_ref), or none: 409
                     out_of_stock with details [{product_id, requested,
                     available}] naming every short line. 200 {sale_ref,
                     store_id, location_id, status "taken", lines,
                     replayed}; the same again: 200 with what was taken
                     (replayed true); the same sale_ref with other lines or
                     another store: 409 conflict; a voided one: 409
                     invalid_state.
    stock.sell_undo  data {sale_ref}: what that sale took comes back
                     (movement "return", reference "void:<sale_ref>"), once.
                     200 {sale_ref, status "voided", lines given back, ...},
                     also when nothing was taken (lines []): the sale_ref is
                     then voided, and a sell arriving later takes nothing.
    stock.return     data {return_ref, store_id, lines}: the goods come
                     back to the store's shelf (movement "return", reference
                     return_ref), once. 200 {return_ref, store_id,
                     location_id, status "returned", lines, replayed}.

    Lines: 1 to 100, quantity 1 to 100000; a product on two lines is one
    line with the quantities added (a cashier scans an item twice).
    =========================================================================
*/
#ifndef COMPTOIR_POS_STOCK_VERBS_H
#define COMPTOIR_POS_STOCK_VERBS_H

#include "envelope.h"

//  Largest quantity of one line of a sale or a return.
#define POS_STOCK_MAX_QUANTITY  100000

envelope_t *pos_stock_sell (const envelope_t *request, void *state);
envelope_t *pos_stock_sell_undo (const envelope_t *request, void *state);
envelope_t *pos_stock_return (const envelope_t *request, void *state);

#endif
