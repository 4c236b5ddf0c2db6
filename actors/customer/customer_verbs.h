/*  =========================================================================
    customer_verbs - the handlers of the customer.* verbs: a customer's own
    profile (me_get, me_update), and the staff's lookup (list, get).
    =========================================================================
*/
#ifndef COMPTOIR_CUSTOMER_VERBS_H
#define COMPTOIR_CUSTOMER_VERBS_H

#include "envelope.h"

#include <libpq-fe.h>

//  The customer columns every verb selects (from customers, or a CTE of it),
//  and the API's customer from one row of them.
#define CUSTOMER_COLUMNS \
    "id, email, first_name, last_name, phone, province, " \
    "to_char (created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), " \
    "to_char (updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define CUSTOMER_COLUMN_COUNT 8

json_t *customer_json (PGresult *res, int row, int first_column);

envelope_t *customer_me_get (const envelope_t *request, void *state);
envelope_t *customer_me_update (const envelope_t *request, void *state);
envelope_t *customer_list (const envelope_t *request, void *state);
envelope_t *customer_get (const envelope_t *request, void *state);

#endif
