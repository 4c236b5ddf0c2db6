/*  =========================================================================
    sales_verbs - the handlers of the sales context (point of sale)

    Each handler takes the request envelope and the actor's sales_state_t
    and returns the reply envelope (never NULL). Roles: cashier, manager,
    admin; a cashier or manager reaches only the store of its token (another
    store's registers and sales answer 404), an admin any store.

    sale.create         Idempotency-Key; data {register_id, items [{product_id,
                        quantity, discount_percent?}], payments [{method,
                        amount_cents, card_token?}], customer_id?}: 201 the
                        sale · 409 register_closed, out_of_stock · 402
                        payment_declined · 403 discount over a cashier's limit.
    sale.list           params store_id?, register_id?, from?, to?, page?, per_page?
    sale.get            params id: the sale with its returns.
    sale.receipt        params id: the receipt, 40 columns, as a JSON string
                        (the edge sends it as text/plain).
    sale.return         Idempotency-Key; params id; data {items [{product_id,
                        quantity}], reason, register_id?}: 201 the return.
    sale.summary_daily  params store_id?, date?: the store's day.
    register.list       params store_id?: registers with their open session.
    register.open       params id; data {opening_float_cents}: 201 the session.
    register.close      params id; data {counted_cash_cents}: 200 the Z report.
    =========================================================================
*/
#ifndef COMPTOIR_SALES_VERBS_H
#define COMPTOIR_SALES_VERBS_H

#include "envelope.h"
#include "sales_state.h"

envelope_t *sale_create (const envelope_t *request, void *state);
envelope_t *sale_list (const envelope_t *request, void *state);
envelope_t *sale_get (const envelope_t *request, void *state);
envelope_t *sale_receipt (const envelope_t *request, void *state);
envelope_t *sale_return (const envelope_t *request, void *state);
envelope_t *sale_summary_daily (const envelope_t *request, void *state);
envelope_t *register_list (const envelope_t *request, void *state);
envelope_t *register_open (const envelope_t *request, void *state);
envelope_t *register_close (const envelope_t *request, void *state);

//  Send a return's goods back to the store's stock (stock.return) unless
//  they went back already, and mark it so. 0, or -1 (the sweep retries).
int sales_return_stock (sales_state_t *self, const envelope_t *request, int64_t return_id);

//  Drive to an end what crashed workers left: pending sales older than
//  older_than_s get their stock back (stock.sell_undo) and become void,
//  and their Idempotency-Keys are let go; keys left running with no sale
//  behind them are let go, those whose sale completed get its answer;
//  returns whose stock did not go back are sent back again (stock.return);
//  keys past their 24 hours are deleted (up to 1,000). At most limit of
//  each. Returns how many were settled, -1 on a db failure.
int sales_recover (sales_state_t *self, int64_t older_than_s, int limit);

#endif
