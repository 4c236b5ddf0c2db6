/*  =========================================================================
    sales_access - who may reach which store, register and sale

    The context checks again what the edge's route table checks (roles):
    a context is reachable by any process the broker admits, not only by
    the edge.
    =========================================================================
*/
#include "sales_access.h"
#include "contextcall.h"
#include "request_input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------

envelope_t *
sales_access_staff (const envelope_t *request)
{
    static const char *const roles [] = { "cashier", "manager", "admin", NULL };
    return request_input_roles (request, roles);
}

//  --------------------------------------------------------------------------

envelope_t *
sales_access_store (const envelope_t *request, int64_t *store_id)
{
    envelope_t *refused = sales_access_staff (request);
    if (refused)
        return refused;
    const char *given = request_input_param (request, "store_id");
    int64_t asked = 0;
    if (given && request_input_int (given, 1, INT64_MAX, &asked)) {
        json_t *details = json_array ();
        request_input_problem (details, "store_id", "must be a positive integer");
        return request_input_invalid (request, details);
    }
    if (streq (request->role, "admin")) {
        *store_id = asked;
        return NULL;
    }
    if (request->store_id < 1)
        return request_input_forbidden (request, "this staff account works for no store");
    if (asked && asked != request->store_id)
        return request_input_not_found (request, "store");
    *store_id = request->store_id;
    return NULL;
}

//  --------------------------------------------------------------------------

int
sales_access_id (const envelope_t *request, const char *name, int64_t *value, json_t *details)
{
    if (request_input_int (request_input_param (request, name), 1, INT64_MAX, value) == 0)
        return 0;
    request_input_problem (details, name, "must be a positive integer");
    return -1;
}

//  --------------------------------------------------------------------------

int64_t
sales_access_int (const char *text)
{
    return text && *text ? atoll (text) : 0;
}

//  --------------------------------------------------------------------------

envelope_t *
sales_access_register (sales_state_t *self, const envelope_t *request, int64_t id,
                       sales_register_t *reg)
{
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) id);
    const char *params [] = { text };
    PGresult *res = pgdb_exec (self->db, "sales_register_find",
        "SELECT r.id, r.store_id, r.name, s.code, s.province, "
        "       (SELECT x.id FROM register_sessions x WHERE x.register_id = r.id "
        "          AND x.closed_at IS NULL) "
        "FROM registers r JOIN stores s ON s.id = r.store_id WHERE r.id = $1", 1, params);
    if (!res)
        return request_input_db_failure (request, self->db, "sales");
    envelope_t *reply = NULL;
    if (PQntuples (res) == 0
    ||  (!streq (request->role, "admin") && sales_access_int (PQgetvalue (res, 0, 1)) != request->store_id))
        reply = request_input_not_found (request, "register");
    else {
        memset (reg, 0, sizeof *reg);
        reg->id = id;
        reg->store_id = sales_access_int (PQgetvalue (res, 0, 1));
        snprintf (reg->name, sizeof reg->name, "%s", PQgetvalue (res, 0, 2));
        snprintf (reg->store_code, sizeof reg->store_code, "%s", PQgetvalue (res, 0, 3));
        snprintf (reg->province, sizeof reg->province, "%s", PQgetvalue (res, 0, 4));
        reg->session_id = sales_access_int (PQgetvalue (res, 0, 5));
    }
    PQclear (res);
    return reply;
}

//  --------------------------------------------------------------------------

envelope_t *
sales_access_sale (sales_state_t *self, const envelope_t *request, int64_t id, int64_t *store_id)
{
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) id);
    const char *params [] = { text };
    PGresult *res = pgdb_exec (self->db, "sales_sale_find",
        "SELECT store_id FROM sales WHERE id = $1 AND status = 'completed'", 1, params);
    if (!res)
        return request_input_db_failure (request, self->db, "sales");
    envelope_t *reply = NULL;
    if (PQntuples (res) == 0
    ||  (!streq (request->role, "admin") && sales_access_int (PQgetvalue (res, 0, 0)) != request->store_id))
        reply = request_input_not_found (request, "sale");
    else
        *store_id = sales_access_int (PQgetvalue (res, 0, 0));
    PQclear (res);
    return reply;
}

//  --------------------------------------------------------------------------

envelope_t *
sales_access_call (sales_state_t *self, const envelope_t *request, const char *service,
                   const char *verb, json_t *data)
{
    return contextcall (self->client, request, "sales", service, verb, NULL, NULL, NULL, data,
                        self->call_timeout_ms);
}
