/*  =========================================================================
    sale_model - the arithmetic of a sale and of its returns

    Products are taken in 128 bits: no quantity x price the input bounds
    allow can overflow, and nothing here is a float.
    =========================================================================
*/
#include "sale_model.h"

#include <czmq.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Split total over the lines in proportion to their net, largest
//  remainder first (ties to the earlier line).
static void
s_split_tax (sale_line_t *lines, size_t count, int64_t net, int64_t total)
{
    int64_t given = 0;
    for (size_t i = 0; i < count; i++) {
        lines [i].tax_cents = net > 0 ? (int64_t) ((__int128) total * lines [i].net_cents / net) : 0;
        given += lines [i].tax_cents;
    }
    while (given < total) {
        size_t best = 0;
        __int128 best_rest = -1;
        for (size_t i = 0; i < count; i++) {
            __int128 rest = ((__int128) total * lines [i].net_cents) % net;
            //  a line that already got its extra cent has rest -net after it
            rest -= (__int128) net * (lines [i].tax_cents
                                      - (int64_t) ((__int128) total * lines [i].net_cents / net));
            if (rest > best_rest) {
                best_rest = rest;
                best = i;
            }
        }
        lines [best].tax_cents++;
        given++;
    }
}

//  --------------------------------------------------------------------------

int
sale_model_price (sale_line_t *lines, size_t count, const char *province, sale_totals_t *totals)
{
    memset (totals, 0, sizeof *totals);
    totals->taxes = salestax_of (province);
    if (!totals->taxes || count > SALE_MAX_LINES)
        return -1;
    for (size_t i = 0; i < count; i++) {
        sale_line_t *line = &lines [i];
        if (line->quantity < 1 || line->quantity > SALE_MAX_QUANTITY
        ||  line->unit_price_cents < 0 || line->unit_price_cents > SALE_MAX_PRICE
        ||  line->discount_percent < 0 || line->discount_percent > 100)
            return -1;
        int64_t gross = line->unit_price_cents * line->quantity;
        line->discount_cents = (gross * line->discount_percent + 50) / 100;
        line->net_cents = gross - line->discount_cents;
        totals->subtotal_cents += gross;
        totals->discount_cents += line->discount_cents;
    }
    totals->net_cents = totals->subtotal_cents - totals->discount_cents;
    for (int i = 0; i < 2 && totals->taxes [i].name; i++) {
        totals->tax_amounts [i] = salestax_amount (totals->net_cents, totals->taxes [i].rate);
        totals->tax_cents += totals->tax_amounts [i];
    }
    totals->total_cents = totals->net_cents + totals->tax_cents;
    s_split_tax (lines, count, totals->net_cents, totals->tax_cents);
    return 0;
}

//  --------------------------------------------------------------------------

bool
sale_model_method_valid (const char *method)
{
    return method && (streq (method, "cash") || streq (method, "credit_card")
                  ||  streq (method, "debit_card") || streq (method, "mobile"));
}

//  --------------------------------------------------------------------------

const char *
sale_model_payments (const sale_payment_t *payments, size_t count, int64_t total_cents,
                     int64_t *change_cents)
{
    int64_t cash = 0, other = 0;
    for (size_t i = 0; i < count; i++) {
        if (!sale_model_method_valid (payments [i].method))
            return "method must be cash, credit_card, debit_card or mobile";
        if (payments [i].amount_cents < 1 || payments [i].amount_cents > SALE_MAX_AMOUNT)
            return "amount_cents must be > 0";
        if (streq (payments [i].method, "cash"))
            cash += payments [i].amount_cents;
        else
            other += payments [i].amount_cents;
    }
    if (cash + other < total_cents)
        return "the payments do not cover the total";
    if (other > total_cents)
        return "only cash may exceed the total";
    int64_t change = cash + other - total_cents;
    if (change > 0 && change >= cash)
        return "the change must be less than the cash given";
    *change_cents = change;
    return NULL;
}

//  --------------------------------------------------------------------------

int64_t
sale_model_share (int64_t amount, int64_t sold, int64_t before, int64_t after)
{
    if (sold < 1 || before < 0 || after < before || after > sold)
        return 0;
    return (int64_t) ((__int128) amount * after / sold - (__int128) amount * before / sold);
}
