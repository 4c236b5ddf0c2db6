/*  =========================================================================
    sale_model - the arithmetic of a sale and of its returns

    Pure functions, no database and no broker, so that every rounding rule
    is tested on its own (tests/sales_it.c):

    - A line's discount is its percent of quantity x price, rounded half
      up to the cent; its net is the rest.
    - Each tax of the store's province is computed on the sale's net
      subtotal (after discounts) and rounded half up (API.md); the sum of
      the taxes is then split over the lines in proportion to their net,
      by largest remainder, so the lines' taxes add up to the sale's.
    - A return refunds, for each line, the share of its net and of its tax
      that its quantity is of the line's: the cumulative share, so that
      returning a line in several steps refunds exactly what it cost
      (floor (amount x returned_after / sold) - floor (amount x
      returned_before / sold)).
    - Payments: methods cash, credit_card, debit_card, mobile, each > 0;
      together they cover the total; cards never exceed it; the change is
      what cash exceeds it by, and must be less than the cash given.
    =========================================================================
*/
#ifndef COMPTOIR_SALE_MODEL_H
#define COMPTOIR_SALE_MODEL_H

#include "salestax.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SALE_MAX_LINES      100
#define SALE_MAX_QUANTITY   10000
#define SALE_MAX_PRICE      100000000       //  1,000,000.00 $ per unit
#define SALE_MAX_PAYMENTS   10
#define SALE_MAX_AMOUNT     100000000000    //  one payment, cents

typedef struct {
    int64_t product_id;
    int64_t quantity;
    int64_t discount_percent;       //  0..100
    int64_t unit_price_cents;       //  from the catalog
    int64_t cost_cents;             //  from the catalog
    //  computed by sale_model_price
    int64_t discount_cents;
    int64_t net_cents;
    int64_t tax_cents;
} sale_line_t;

typedef struct {
    int64_t subtotal_cents;         //  quantity x price, summed
    int64_t discount_cents;
    int64_t net_cents;              //  subtotal - discount: what the taxes are on
    int64_t tax_cents;
    int64_t total_cents;            //  net + tax
    const salestax_t *taxes;        //  the province's
    int64_t tax_amounts [2];        //  each tax's amount, in taxes' order
} sale_totals_t;

typedef struct {
    const char *method;
    int64_t amount_cents;
} sale_payment_t;

//  Price the lines (their price, quantity and discount set) for a store
//  in province: fills each line's discount, net and tax and the totals.
//  -1 when the province has no taxes known or a bound is passed.
int sale_model_price (sale_line_t *lines, size_t count, const char *province, sale_totals_t *totals);

//  Whether method is a payment method of the till.
bool sale_model_method_valid (const char *method);

//  Check payments against total: NULL when they settle it (sets *change),
//  else the problem, in API.md's words.
const char *sale_model_payments (const sale_payment_t *payments, size_t count, int64_t total_cents,
                                 int64_t *change_cents);

//  The share of amount that goes with units (before, after] of sold:
//  floor (amount * after / sold) - floor (amount * before / sold).
int64_t sale_model_share (int64_t amount, int64_t sold, int64_t before, int64_t after);

#endif
