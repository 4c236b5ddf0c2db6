/*  =========================================================================
    register_verbs - registers, their cash-drawer sessions, the Z report
    and the store's daily summary

    Why it is built this way:

    - A session opens with the float counted into the drawer and closes for
      good with the cash counted out of it. At most one session is open per
      register: the database's unique partial index decides between two
      concurrent opens (409 register_open for the loser).
    - The close locks the open session first (FOR UPDATE): a sale or a cash
      refund in flight holds it FOR SHARE until it commits, so the close
      waits for it, and its report, read by the next statement, sees it.
      Nothing completes on a closed session afterwards.
    - The Z report is sales_figures () of the session (SQL, shared with the
      daily summary) plus the drawer: expected cash = float + cash taken
      - change given - cash refunded; over_short = counted - expected. It
      is stored in the session row and answered again by nobody else: the
      figures of a closed session never move.
    =========================================================================
*/
#include "sales_verbs.h"
#include "request_input.h"
#include "sales_access.h"
#include "sales_render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_CASH 1000000000       //  10,000,000.00 $ in a drawer

#define S_SESSION_JSON \
    "jsonb_build_object ('id', x.id, 'register_id', x.register_id, 'opened_at', " SALES_TS ("x.opened_at") ", " \
    "'opened_by', x.opened_by, 'opening_float_cents', x.opening_float_cents)"

//  ==========================================================================

//  --------------------------------------------------------------------------

envelope_t *
register_list (const envelope_t *request, void *state)
{
    sales_state_t *self = (sales_state_t *) state;
    int64_t store_id = 0;
    envelope_t *refused = sales_access_store (request, &store_id);
    if (refused)
        return refused;
    char store [24];
    snprintf (store, sizeof store, "%lld", (long long) store_id);
    const char *params [] = { store_id ? store : NULL };
    PGresult *res = pgdb_exec (self->db, "sales_register_list",
        "SELECT jsonb_build_object ('data', COALESCE (jsonb_agg (jsonb_build_object ("
        "  'id', g.id, 'store_id', g.store_id, 'name', g.name, "
        "  'session', (SELECT " S_SESSION_JSON " FROM register_sessions x "
        "              WHERE x.register_id = g.id AND x.closed_at IS NULL)) ORDER BY g.id), '[]'))::text "
        "FROM registers g WHERE $1::bigint IS NULL OR g.store_id = $1", 1, params);
    if (!res)
        return request_input_db_failure (request, self->db, "sales");
    json_t *body = json_loads (PQgetvalue (res, 0, 0), 0, NULL);
    PQclear (res);
    return body ? envelope_new_reply (request, 200, body) : request_input_internal (request);
}

//  ==========================================================================

//  --------------------------------------------------------------------------
//  The register of param id and the integer amount field of the body:
//  NULL (and *reg, *amount), or the reply.
static envelope_t *
s_register_amount (sales_state_t *self, const envelope_t *request, const char *field,
                   sales_register_t *reg, int64_t *amount)
{
    envelope_t *refused = sales_access_staff (request);
    if (refused)
        return refused;
    json_t *details = json_array ();
    int64_t id = 0;
    sales_access_id (request, "id", &id, details);
    json_t *data = request_input_object (request, details);
    if (data) {
        const char *const allowed [] = { field, NULL };
        request_input_unknown_fields (data, allowed, details);
        if (request_input_integer (data, field, 0, S_MAX_CASH, amount, details) == 0)
            request_input_problem (details, field, "is required");
    }
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);
    return sales_access_register (self, request, id, reg);
}

//  --------------------------------------------------------------------------

envelope_t *
register_open (const envelope_t *request, void *state)
{
    sales_state_t *self = (sales_state_t *) state;
    sales_register_t reg;
    int64_t amount = 0;
    envelope_t *reply = s_register_amount (self, request, "opening_float_cents", &reg, &amount);
    if (reply)
        return reply;
    if (reg.session_id)
        return envelope_new_error (request, 409, "register_open", "the register already has an open session", NULL);
    char id [24], float_text [24];
    snprintf (id, sizeof id, "%lld", (long long) reg.id);
    snprintf (float_text, sizeof float_text, "%lld", (long long) amount);
    const char *params [] = { id, request->sub ? request->sub : "", float_text };
    PGresult *res = pgdb_exec (self->db, "sales_register_open",
        "WITH x AS (INSERT INTO register_sessions (register_id, opened_by, opening_float_cents) "
        "           VALUES ($1, $2, $3) RETURNING *) "
        "SELECT (" S_SESSION_JSON " || jsonb_build_object ('store_id', g.store_id))::text "
        "FROM x JOIN registers g ON g.id = x.register_id", 3, params);
    if (!res) {
        if (pgdb_is_unique_violation (self->db))
            return envelope_new_error (request, 409, "register_open", "the register already has an open session", NULL);
        return request_input_db_failure (request, self->db, "sales");
    }
    json_t *body = json_loads (PQgetvalue (res, 0, 0), 0, NULL);
    PQclear (res);
    return body ? envelope_new_reply (request, 201, body) : request_input_internal (request);
}

//  ==========================================================================

typedef struct {
    const envelope_t *request;
    const sales_register_t *reg;
    int64_t counted;
    char *report;                   //  the Z report (JSON text), or NULL when no session was open
} s_close_t;

//  --------------------------------------------------------------------------

static int
s_close_txn (pgdb_t *db, void *arg)
{
    s_close_t *self = (s_close_t *) arg;
    char reg [24], store [24], counted [24];
    snprintf (reg, sizeof reg, "%lld", (long long) self->reg->id);
    snprintf (store, sizeof store, "%lld", (long long) self->reg->store_id);
    snprintf (counted, sizeof counted, "%lld", (long long) self->counted);
    const char *lock_params [] = { reg };
    PGresult *res = pgdb_exec (db, "sales_close_lock",
        "SELECT id FROM register_sessions WHERE register_id = $1 AND closed_at IS NULL FOR UPDATE",
        1, lock_params);
    if (!res)
        return -1;
    if (PQntuples (res) == 0) {
        PQclear (res);
        return 2;
    }
    char session [24];
    snprintf (session, sizeof session, "%s", PQgetvalue (res, 0, 0));
    PQclear (res);
    //  A new statement: its snapshot sees every sale that held the session.
    const char *params [] = { session, store, self->request->sub ? self->request->sub : "", counted };
    res = pgdb_exec (db, "sales_close",
        "WITH f AS (SELECT sales_figures ($2, $1, NULL, NULL) AS j), "
        "c AS (SELECT (j -> 'payments' ->> 'cash')::bigint AS cash_in, (j ->> 'change_cents')::bigint AS change, "
        "             (j ->> 'cash_refunds_cents')::bigint AS refunds, j FROM f) "
        "UPDATE register_sessions x SET closed_at = now (), closed_by = $3, counted_cash_cents = $4, "
        "  report = c.j || jsonb_build_object ('session_id', x.id, 'register_id', x.register_id, "
        "    'store_id', $2::bigint, 'opened_at', " SALES_TS ("x.opened_at") ", 'opened_by', x.opened_by, "
        "    'closed_at', " SALES_TS ("now ()") ", 'closed_by', $3::text, "
        "    'opening_float_cents', x.opening_float_cents, 'cash_in_cents', c.cash_in, "
        "    'expected_cash_cents', x.opening_float_cents + c.cash_in - c.change - c.refunds, "
        "    'counted_cash_cents', $4::bigint, "
        "    'over_short_cents', $4::bigint - (x.opening_float_cents + c.cash_in - c.change - c.refunds)) "
        "FROM c WHERE x.id = $1 RETURNING x.report::text", 4, params);
    if (!res)
        return -1;
    self->report = PQntuples (res) == 1 ? strdup (PQgetvalue (res, 0, 0)) : NULL;
    PQclear (res);
    return self->report ? 0 : -1;
}

//  --------------------------------------------------------------------------

envelope_t *
register_close (const envelope_t *request, void *state)
{
    sales_state_t *self = (sales_state_t *) state;
    sales_register_t reg;
    int64_t counted = 0;
    envelope_t *reply = s_register_amount (self, request, "counted_cash_cents", &reg, &counted);
    if (reply)
        return reply;
    s_close_t close = { request, &reg, counted, NULL };
    int rc = pgdb_transaction (self->db, "READ COMMITTED", s_close_txn, &close, 5);
    if (rc == 2)
        return envelope_new_error (request, 409, "register_closed", "the register has no open session", NULL);
    json_t *report = rc == 0 && close.report ? json_loads (close.report, 0, NULL) : NULL;
    free (close.report);
    if (rc != 0)
        return request_input_db_failure (request, self->db, "sales");
    return report ? envelope_new_reply (request, 200, report) : request_input_internal (request);
}

//  ==========================================================================

//  --------------------------------------------------------------------------

envelope_t *
sale_summary_daily (const envelope_t *request, void *state)
{
    sales_state_t *self = (sales_state_t *) state;
    int64_t store_id = 0;
    envelope_t *refused = sales_access_store (request, &store_id);
    if (refused)
        return refused;
    json_t *details = json_array ();
    if (!store_id)
        request_input_problem (details, "store_id", "is required for an admin");
    const char *date = request_input_param (request, "date");
    bool shaped = !date || strlen (date) == 10;
    for (size_t i = 0; date && shaped && i < 10; i++)
        shaped = (i == 4 || i == 7) ? date [i] == '-' : date [i] >= '0' && date [i] <= '9';
    if (!shaped)
        request_input_problem (details, "date", "must be a date: 2026-11-25");
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);
    char store [24];
    snprintf (store, sizeof store, "%lld", (long long) store_id);
    const char *params [] = { store, date };
    PGresult *res = pgdb_exec (self->db, "sales_summary_daily",
        "WITH d AS (SELECT COALESCE ($2::date, (now () AT TIME ZONE 'UTC')::date) AS day) "
        "SELECT (sales_figures ($1, NULL, (d.day::text || 'T00:00:00Z')::timestamptz, "
        "                       ((d.day + 1)::text || 'T00:00:00Z')::timestamptz) "
        "        || jsonb_build_object ('store_id', $1::bigint, 'date', d.day::text, "
        "             'code', (SELECT code FROM stores WHERE id = $1), "
        "             'sessions_closed', (SELECT count (*) FROM register_sessions x JOIN registers g "
        "                 ON g.id = x.register_id WHERE g.store_id = $1 "
        "                 AND (x.closed_at AT TIME ZONE 'UTC')::date = d.day), "
        "             'over_short_cents', (SELECT COALESCE (sum ((x.report ->> 'over_short_cents')::bigint), 0) "
        "                 FROM register_sessions x JOIN registers g ON g.id = x.register_id "
        "                 WHERE g.store_id = $1 AND (x.closed_at AT TIME ZONE 'UTC')::date = d.day)))::text, "
        "       EXISTS (SELECT 1 FROM stores WHERE id = $1) "
        "FROM d", 2, params);
    if (!res) {
        if (strncmp (pgdb_sqlstate (self->db), "22", 2) == 0) {
            details = json_array ();
            request_input_problem (details, "date", "must be a real date: 2026-11-25");
            return request_input_invalid (request, details);
        }
        return request_input_db_failure (request, self->db, "sales");
    }
    json_t *body = streq (PQgetvalue (res, 0, 1), "t") ? json_loads (PQgetvalue (res, 0, 0), 0, NULL) : NULL;
    bool known = streq (PQgetvalue (res, 0, 1), "t");
    PQclear (res);
    if (!known)
        return request_input_not_found (request, "store");
    return body ? envelope_new_reply (request, 200, body) : request_input_internal (request);
}
