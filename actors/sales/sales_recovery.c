/*  =========================================================================
    sales_recovery - what a crashed sales worker leaves, driven to an end

    A worker killed between "stock taken" and "sale recorded" leaves a
    pending sale (its sale_ref names the stock movements) and a running
    Idempotency-Key. The sweep claims such a sale ('voiding', so that a
    second sweep or the live worker cannot complete it meanwhile), gives
    its stock back (stock.sell_undo, idempotent: 200 also when nothing had
    been taken) and then voids it and lets its key go: the sale never
    happened, no receipt number was spent, and the cashier may ring it up
    again with the same key. The choice of undoing over completing is
    deliberate: the till never got a 201, so the customer did not leave
    with a receipt for it.
    =========================================================================
*/
#include "sales_verbs.h"
#include "idempotency.h"
#include "logline.h"
#include "sales_access.h"
#include "sales_render.h"

#include <stdio.h>
#include <stdlib.h>

//  --------------------------------------------------------------------------

static int
s_void_pending (sales_state_t *self, const char *age, const char *count)
{
    const char *params [] = { age, count };
    PGresult *res = pgdb_exec (self->db, "sales_recover_claim",
        "UPDATE sales SET status = 'voiding' WHERE id IN (SELECT id FROM sales "
        "  WHERE status IN ('pending', 'voiding') AND created_at < now () - make_interval (secs => $1::bigint) "
        "  ORDER BY id LIMIT $2::integer FOR UPDATE SKIP LOCKED) "
        "RETURNING id, sale_ref, idem_scope, idem_key", 2, params);
    if (!res)
        return -1;
    int done = 0;
    for (int row = 0; row < PQntuples (res); row++) {
        const char *sale_ref = PQgetvalue (res, row, 1);
        envelope_t *answer = sales_access_call (self, NULL, "inventory", "stock.sell_undo",
                                                json_pack ("{s:s}", "sale_ref", sale_ref));
        int status = answer->status;
        envelope_destroy (&answer);
        if (status != 200) {
            log_warn (NULL, "sales: %s: stock not given back yet (%d), tried again later", sale_ref, status);
            continue;
        }
        const char *id [] = { PQgetvalue (res, row, 0) };
        PGresult *gone = pgdb_exec (self->db, "sales_recover_void",
                                    "UPDATE sales SET status = 'void' WHERE id = $1 AND status = 'voiding'", 1, id);
        if (gone)
            PQclear (gone);
        if (!PQgetisnull (res, row, 3))
            idempotency_forget (self->db, PQgetvalue (res, row, 2), PQgetvalue (res, row, 3));
        log_info (NULL, "sales: %s left pending by a crash: stock given back, sale void", sale_ref);
        done++;
    }
    PQclear (res);
    return done;
}

//  --------------------------------------------------------------------------
//  Keys still running long after their request began, with no unfinished
//  sale under them: the worker died before writing its sale or return (let
//  the key go), or after completing it but before storing the answer
//  (store it: a repeat must not sell or refund twice).
static int
s_keys_recover (sales_state_t *self, const char *age, const char *count)
{
    const char *params [] = { age, count };
    PGresult *res = pgdb_exec (self->db, "sales_recover_keys",
        "SELECT k.scope, k.key, (SELECT s.id FROM sales s WHERE s.idem_scope = k.scope "
        "          AND s.idem_key = k.key AND s.status = 'completed' ORDER BY s.id DESC LIMIT 1), "
        "       (SELECT r.id FROM returns r WHERE r.idem_scope = k.scope AND r.idem_key = k.key "
        "          ORDER BY r.id DESC LIMIT 1) "
        "FROM idempotency_keys k "
        "WHERE k.status = 'running' AND k.created_at < now () - make_interval (secs => $1::bigint) "
        "  AND NOT EXISTS (SELECT 1 FROM sales p WHERE p.idem_scope = k.scope AND p.idem_key = k.key "
        "                  AND p.status IN ('pending', 'voiding')) "
        "ORDER BY k.created_at LIMIT $2::integer", 2, params);
    if (!res)
        return -1;
    int done = 0;
    for (int row = 0; row < PQntuples (res); row++) {
        const char *scope = PQgetvalue (res, row, 0), *key = PQgetvalue (res, row, 1);
        bool failed = false;
        json_t *answer = NULL;
        if (!PQgetisnull (res, row, 2))
            answer = sales_render_sale (self, sales_access_int (PQgetvalue (res, row, 2)), &failed);
        else
        if (!PQgetisnull (res, row, 3))
            answer = sales_render_return (self, sales_access_int (PQgetvalue (res, row, 3)), &failed);
        if (answer)
            idempotency_store (self->db, PQgetisnull (res, row, 2) ? "sale.return" : "sale.create",
                               scope, key, 201, answer);
        else
        if (!failed)
            idempotency_forget (self->db, scope, key);
        done++;
    }
    PQclear (res);
    return done;
}

//  --------------------------------------------------------------------------
//  Returns recorded whose stock did not go back.
static int
s_returns_recover (sales_state_t *self, const char *age, const char *count)
{
    const char *params [] = { age, count };
    PGresult *res = pgdb_exec (self->db, "sales_recover_returns",
        "SELECT id FROM returns WHERE NOT stock_back "
        "  AND created_at < now () - make_interval (secs => $1::bigint) ORDER BY id LIMIT $2::integer",
        2, params);
    if (!res)
        return -1;
    int done = 0;
    for (int row = 0; row < PQntuples (res); row++)
        if (sales_return_stock (self, NULL, sales_access_int (PQgetvalue (res, row, 0))) == 0)
            done++;
    PQclear (res);
    return done;
}

//  --------------------------------------------------------------------------

int
sales_recover (sales_state_t *self, int64_t older_than_s, int limit)
{
    char age [24], count [24];
    snprintf (age, sizeof age, "%lld", (long long) older_than_s);
    snprintf (count, sizeof count, "%d", limit);
    int sales = s_void_pending (self, age, count);
    int keys = sales < 0 ? -1 : s_keys_recover (self, age, count);
    int returns = keys < 0 ? -1 : s_returns_recover (self, age, count);
    if (returns < 0)
        return -1;
    //  Keys live 24 h (API.md); a repeat after that is a new request.
    if (idempotency_expire (self->db, 1000))
        return -1;
    return sales + keys + returns;
}
