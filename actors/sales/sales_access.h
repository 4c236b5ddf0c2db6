/*  =========================================================================
    sales_access - who may reach which store, register and sale

    Every sales verb starts the same way: the role is one of the staff's,
    the store is the token's (an admin names one), a register or a sale of
    another store is not found (404: never reveal that it exists). One home
    for those rules, and for the calls to the other contexts.
    =========================================================================
*/
#ifndef COMPTOIR_SALES_ACCESS_H
#define COMPTOIR_SALES_ACCESS_H

#include "envelope.h"
#include "sales_state.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

//  A register as a sale or a session needs it.
typedef struct {
    int64_t id;
    int64_t store_id;
    int64_t session_id;             //  its open session, 0 when closed
    char name [64];
    char store_code [16];
    char province [4];
} sales_register_t;

//  NULL when the caller is a cashier, a manager or an admin; else 401/403.
envelope_t *sales_access_staff (const envelope_t *request);

//  The store a staff caller works for (*store_id), from its token; an
//  admin names one with the store_id param (absent: *store_id = 0, any
//  store). 401/403 for another role or a staff token without a store; a
//  store_id param that is not the caller's answers 404 (another store's
//  data is not there for it), a malformed one 400.
envelope_t *sales_access_store (const envelope_t *request, int64_t *store_id);

//  The positive integer param name (the path's {id}): 0 and *value, or -1
//  and a detail added.
int sales_access_id (const envelope_t *request, const char *name, int64_t *value, json_t *details);

//  The register id, as the caller may see it: NULL (and *reg filled), or
//  the reply (404 when absent or another store's, 503 on a db failure).
envelope_t *sales_access_register (sales_state_t *self, const envelope_t *request, int64_t id,
                                   sales_register_t *reg);

//  The sale id as the caller may see it: NULL (and *store_id its store), or
//  the reply.
envelope_t *sales_access_sale (sales_state_t *self, const envelope_t *request, int64_t id,
                               int64_t *store_id);

//  Call verb of service (product, inventory) as the "service" role of
//  consumer "sales", with data. Takes ownership of data. Never NULL.
envelope_t *sales_access_call (sales_state_t *self, const envelope_t *request, const char *service,
                               const char *verb, json_t *data);

//  A text column of a one-row query as an int64 ("" and NULL give 0).
int64_t sales_access_int (const char *text);

#endif
