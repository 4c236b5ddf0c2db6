/*  =========================================================================
    salestax - Canadian sales taxes by province, in integer cents

    The cart shows taxes and the point of sale charges them: both read the
    same table here, so a rate changes in one place. Rates are integers per
    100,000 (QST 9.975 % is 9975) and a tax is (amount * rate + 50,000) /
    100,000 taken in 128 bits: exact, rounded half up, no float anywhere.
    =========================================================================
*/
#ifndef COMPTOIR_SALESTAX_H
#define COMPTOIR_SALESTAX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SALESTAX_RATE_SCALE 100000      //  rates are integers per 100,000 (9.975% = 9975)

//  One tax of a province.
typedef struct {
    const char *name;                   //  "GST", "QST", "HST", "PST"
    int64_t rate;                       //  per SALESTAX_RATE_SCALE
} salestax_t;

//  The taxes of a province (upper-case two letters), a NULL-named
//  terminated array of at most 2, or NULL when the province is unknown.
const salestax_t *salestax_of (const char *province);

//  A tax on an amount, rounded half up to the cent; 0 for amount <= 0.
int64_t salestax_amount (int64_t amount_cents, int64_t rate);

//  The rate as the API shows it: "9.975", "5", "13". buffer >= 24 bytes.
void salestax_rate_text (int64_t rate, char *buffer, size_t size);

void salestax_test (bool verbose);

#endif
