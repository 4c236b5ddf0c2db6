/*  =========================================================================
    sales_render - a sale and a return as API.md shows them

    The JSON is built by PostgreSQL and parsed once here: the lines'
    returned quantities and the returns come with the sale in one query.
    =========================================================================
*/
#include "sales_render.h"
#include "request_input.h"

#include <stdio.h>

//  --------------------------------------------------------------------------

static json_t *
s_render (sales_state_t *self, const char *name, const char *sql, int64_t id, bool *failed)
{
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) id);
    const char *params [] = { text };
    PGresult *res = pgdb_exec (self->db, name, sql, 1, params);
    *failed = res == NULL;
    json_t *object = NULL;
    if (res && PQntuples (res) == 1) {
        object = json_loads (PQgetvalue (res, 0, 0), 0, NULL);
        *failed = object == NULL;
    }
    if (res)
        PQclear (res);
    return object;
}

//  --------------------------------------------------------------------------

json_t *
sales_render_sale (sales_state_t *self, int64_t id, bool *failed)
{
    return s_render (self, "sales_render_sale",
                     "SELECT " SALES_SALE_JSON "::text FROM sales s WHERE s.id = $1 AND s.status = 'completed'",
                     id, failed);
}

//  --------------------------------------------------------------------------

json_t *
sales_render_return (sales_state_t *self, int64_t id, bool *failed)
{
    return s_render (self, "sales_render_return",
                     "SELECT " SALES_RETURN_JSON "::text FROM returns r WHERE r.id = $1", id, failed);
}

//  --------------------------------------------------------------------------

envelope_t *
sales_render_reply (sales_state_t *self, const envelope_t *request, const char *what, int64_t id,
                    int status)
{
    bool failed = false;
    json_t *body = streq (what, "sale") ? sales_render_sale (self, id, &failed)
                                        : sales_render_return (self, id, &failed);
    if (!body)
        return failed ? request_input_db_failure (request, self->db, "sales")
                      : request_input_not_found (request, what);
    return envelope_new_reply (request, status, body);
}
