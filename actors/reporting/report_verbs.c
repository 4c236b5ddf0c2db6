/*  =========================================================================
    report_verbs - the handlers of the report.* verbs (manager, admin)

    Why it is built this way: each report is one SQL statement that reads
    the day-keyed read models (daily_channel_store, daily_product, stock)
    and builds the JSON answer in PostgreSQL, so a report costs one round
    trip and C only checks the input and wraps the answer. The periods are
    bounded (366 days at most), and every table read is keyed by day first
    or is the size of the catalog, so the dashboard costs the same with a
    year of history as with a day of it (bench/run.sh dashboard).
    =========================================================================
*/
#include "report_verbs.h"
#include "request_input.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPORT_MAX_DAYS 366

static const char *const s_roles [] = { "manager", "admin", NULL };

//  The low-stock rows: a stock row is low when available is at or below
//  its threshold (the stock row's own, from stock.changed or stock.low, as
//  GET /inventory/alerts judges it; else the catalog's, else inventory's
//  default 5, for a row known only from events older than the threshold).
#define S_LOW_STOCK(limit) \
    "(SELECT COALESCE (jsonb_agg (jsonb_build_object ('product_id', x.product_id, 'name', x.name," \
    "   'location_id', x.location_id, 'available', x.available, 'alert_threshold', x.threshold," \
    "   'level', CASE WHEN x.available = 0 THEN 'out' ELSE 'low' END)" \
    "   ORDER BY x.available, x.product_id, x.location_id), '[]')" \
    "  FROM (SELECT s.product_id, p.name, s.location_id, s.available," \
    "               COALESCE (s.alert_threshold, p.alert_threshold, 5) AS threshold" \
    "          FROM stock s LEFT JOIN products p USING (product_id)" \
    "         WHERE s.available <= COALESCE (s.alert_threshold, p.alert_threshold, 5)" \
    "           AND p.active IS NOT false" \
    "         ORDER BY s.available, s.product_id, s.location_id LIMIT " limit ") x)"

#define S_NOW_TEXT "to_char (now () AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define S_TODAY    "(now () AT TIME ZONE 'UTC')::date"

//  --------------------------------------------------------------------------
//  Run a statement whose one value is the JSON answer (roles checked first
//  when check_roles).

static envelope_t *
s_answer (reporting_state_t *self, const envelope_t *request, bool check_roles, const char *name,
          const char *sql, int count, const char *const *params)
{
    envelope_t *refused = check_roles ? request_input_roles (request, s_roles) : NULL;
    if (refused)
        return refused;
    PGresult *result = pgdb_exec (self->db, name, sql, count, params);
    if (!result)
        return request_input_db_failure (request, self->db, "reporting");
    json_t *body = PQntuples (result) == 1 ? json_loads (PQgetvalue (result, 0, 0), 0, NULL) : NULL;
    PQclear (result);
    return body ? envelope_new_reply (request, 200, body) : request_input_internal (request);
}

//  --------------------------------------------------------------------------

int
report_parse_day (const char *text, int64_t *days)
{
    if (!text || strlen (text) != 10 || text [4] != '-' || text [7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (text [i] < '0' || text [i] > '9'))
            return -1;
    int year = atoi (text), month = atoi (text + 5), day = atoi (text + 8);
    static const int lengths [] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (year < 1970 || month < 1 || month > 12 || day < 1
    ||  day > lengths [month - 1] + (month == 2 && leap ? 1 : 0))
        return -1;
    //  Days from civil (H. Hinnant's algorithm), for the proleptic Gregorian calendar.
    int64_t y = month <= 2 ? year - 1 : year;
    int64_t era = y / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    *days = era * 146097 + doe - 719468;
    return 0;
}

//  --------------------------------------------------------------------------

//  The day bounds are written into each condition rather than read from a
//  CTE: the planner then sees the date range it scans (it folds now () for
//  its estimates) and reads the 7 or 14 days by the primary keys whatever
//  the length of history, instead of planning for a third of the table.

envelope_t *
report_dashboard (const envelope_t *request, void *state)
{
    return s_answer ((reporting_state_t *) state, request, true, "report_dashboard",
        "WITH d AS (SELECT f.* FROM daily_channel_store f"
        "        WHERE f.day > " S_TODAY " - 14 AND f.day <= " S_TODAY "),"
        " s AS (SELECT store_id FROM locations WHERE store_id IS NOT NULL"
        "       UNION SELECT store_id FROM d WHERE channel = 'store'),"
        " w AS (SELECT s.store_id,"
        "              COALESCE (sum (d.revenue_cents) FILTER (WHERE d.day > " S_TODAY " - 7), 0) AS revenue,"
        "              COALESCE (sum (d.count) FILTER (WHERE d.day > " S_TODAY " - 7), 0) AS sales,"
        "              COALESCE (sum (d.revenue_cents) FILTER (WHERE d.day <= " S_TODAY " - 7), 0) AS before"
        "         FROM s LEFT JOIN d ON d.channel = 'store' AND d.store_id = s.store_id"
        "        GROUP BY s.store_id),"
        " p AS (SELECT f.product_id, sum (f.quantity) AS quantity, sum (f.revenue_cents) AS revenue"
        "         FROM daily_product_total f WHERE f.day > " S_TODAY " - 7 AND f.day <= " S_TODAY
        "        GROUP BY f.product_id HAVING sum (f.quantity) > 0 OR sum (f.revenue_cents) > 0"
        "        ORDER BY revenue DESC, f.product_id LIMIT 10)"
        " SELECT jsonb_build_object ("
        "  'generated_at', " S_NOW_TEXT ","
        "  'today', (SELECT jsonb_build_object ("
        "       'revenue_cents', COALESCE (sum (d.revenue_cents), 0),"
        "       'web_orders', COALESCE (sum (d.count) FILTER (WHERE d.channel = 'web'), 0),"
        "       'store_sales', COALESCE (sum (d.count) FILTER (WHERE d.channel = 'store'), 0),"
        "       'by_channel', jsonb_build_object ("
        "           'web', COALESCE (sum (d.revenue_cents) FILTER (WHERE d.channel = 'web'), 0),"
        "           'store', COALESCE (sum (d.revenue_cents) FILTER (WHERE d.channel = 'store'), 0)))"
        "       FROM d WHERE d.day = " S_TODAY "),"
        "  'stores', (SELECT COALESCE (jsonb_agg (jsonb_build_object ('store_id', w.store_id,"
        "       'name', l.name, 'revenue_7d_cents', w.revenue, 'sales_7d', w.sales,"
        "       'trend_pct', CASE WHEN w.before > 0"
        "                         THEN round ((w.revenue - w.before) * 100.0 / w.before, 1) END)"
        "       ORDER BY w.store_id), '[]')"
        "       FROM w LEFT JOIN locations l ON l.store_id = w.store_id),"
        "  'top_products', (SELECT COALESCE (jsonb_agg (jsonb_build_object ('product_id', p.product_id,"
        "       'name', n.name, 'quantity', p.quantity, 'revenue_cents', p.revenue)"
        "       ORDER BY p.revenue DESC, p.product_id), '[]')"
        "       FROM p LEFT JOIN products n USING (product_id)),"
        "  'low_stock', " S_LOW_STOCK ("20") ")::text",
        0, NULL);
}

//  --------------------------------------------------------------------------

//  One statement per grouping; $1 from, $2 to (dates).
#define S_ROW(key, name) \
    "jsonb_build_object ('key', " key ", 'name', " name ", 'orders_or_sales', sum (f.count)," \
    " 'quantity', sum (f.quantity), 'revenue_cents', sum (f.revenue_cents)," \
    " 'tax_cents', sum (f.tax_cents))"
#define S_META \
    " 'meta', jsonb_build_object ('from', $1::date, 'to', $2::date, 'group_by', $3::text)"

static const struct {
    const char *group_by;
    const char *statement;
    const char *sql;
} s_groupings [] = {
    { "day", "report_sales_day",
      "SELECT jsonb_build_object ('data', COALESCE (jsonb_agg (r.j ORDER BY r.k), '[]')," S_META ")::text"
      "  FROM (SELECT f.day AS k, " S_ROW ("to_char (f.day, 'YYYY-MM-DD')", "NULL::text") " AS j"
      "          FROM daily_channel_store f WHERE f.day BETWEEN $1::date AND $2::date"
      "         GROUP BY f.day) r" },
    { "store", "report_sales_store",
      "SELECT jsonb_build_object ('data', COALESCE (jsonb_agg (r.j ORDER BY r.k), '[]')," S_META ")::text"
      "  FROM (SELECT CASE WHEN f.channel = 'web' THEN -1 ELSE f.store_id END AS k,"
      "               " S_ROW ("CASE WHEN f.channel = 'web' THEN 'web' ELSE f.store_id::text END",
                               "CASE WHEN f.channel = 'web' THEN 'Web' ELSE max (l.name) END") " AS j"
      "          FROM daily_channel_store f LEFT JOIN locations l"
      "            ON f.channel = 'store' AND l.store_id = f.store_id"
      "         WHERE f.day BETWEEN $1::date AND $2::date"
      "         GROUP BY f.channel, f.store_id) r" },
    { "product", "report_sales_product",
      "SELECT jsonb_build_object ('data', COALESCE (jsonb_agg (r.j ORDER BY r.k), '[]')," S_META ")::text"
      "  FROM (SELECT f.product_id AS k, " S_ROW ("f.product_id::text", "max (p.name)") " AS j"
      "          FROM daily_product_total f LEFT JOIN products p USING (product_id)"
      "         WHERE f.day BETWEEN $1::date AND $2::date"
      "         GROUP BY f.product_id) r" },
    { "channel", "report_sales_channel",
      "SELECT jsonb_build_object ('data', COALESCE (jsonb_agg (r.j ORDER BY r.k), '[]')," S_META ")::text"
      "  FROM (SELECT f.channel AS k, " S_ROW ("f.channel", "NULL::text") " AS j"
      "          FROM daily_channel_store f WHERE f.day BETWEEN $1::date AND $2::date"
      "         GROUP BY f.channel) r" },
    { NULL, NULL, NULL }
};

envelope_t *
report_sales (const envelope_t *request, void *state)
{
    reporting_state_t *self = (reporting_state_t *) state;
    envelope_t *refused = request_input_roles (request, s_roles);
    if (refused)
        return refused;
    json_t *details = json_array ();
    int64_t today = (int64_t) time (NULL) / 86400;
    int64_t from = today - 6, to = today;
    const char *from_text = request_input_param (request, "from");
    const char *to_text = request_input_param (request, "to");
    bool from_ok = !from_text || report_parse_day (from_text, &from) == 0;
    bool to_ok = !to_text || report_parse_day (to_text, &to) == 0;
    if (!from_ok)
        request_input_problem (details, "from", "must be a date YYYY-MM-DD");
    if (!to_ok)
        request_input_problem (details, "to", "must be a date YYYY-MM-DD");
    if (from_ok && to_ok && from_text && !to_text)
        to = from + 6 < today ? from + 6 : (from > today ? from : today);
    if (from_ok && to_ok && to_text && !from_text)
        from = to - 6;
    if (from_ok && to_ok && from > to)
        request_input_problem (details, "to", "must not be before from");
    else
    if (from_ok && to_ok && to - from + 1 > REPORT_MAX_DAYS)
        request_input_problem (details, "to", "the period must be at most 366 days");
    const char *group_by = request_input_param (request, "group_by");
    size_t grouping = 0;
    if (group_by) {
        while (s_groupings [grouping].group_by && !streq (s_groupings [grouping].group_by, group_by))
            grouping++;
        if (!s_groupings [grouping].group_by)
            request_input_problem (details, "group_by", "must be day, store, product or channel");
    }
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);
    char from_day [16], to_day [16];
    time_t seconds = (time_t) (from * 86400);
    struct tm tm;
    strftime (from_day, sizeof from_day, "%Y-%m-%d", gmtime_r (&seconds, &tm));
    seconds = (time_t) (to * 86400);
    strftime (to_day, sizeof to_day, "%Y-%m-%d", gmtime_r (&seconds, &tm));
    const char *params [] = { from_day, to_day, s_groupings [grouping].group_by };
    return s_answer (self, request, false, s_groupings [grouping].statement, s_groupings [grouping].sql, 3, params);
}

//  --------------------------------------------------------------------------

envelope_t *
report_inventory (const envelope_t *request, void *state)
{
    return s_answer ((reporting_state_t *) state, request, true, "report_inventory",
        "WITH t AS (SELECT " S_TODAY " AS today),"
        " v AS (SELECT s.location_id, sum (s.on_hand) AS units,"
        "              sum (s.on_hand::bigint * COALESCE (p.cost_cents, 0)) AS value"
        "         FROM stock s LEFT JOIN products p USING (product_id) GROUP BY s.location_id),"
        " c AS (SELECT COALESCE (sum (CASE WHEN f.channel = 'store' THEN f.cost_cents"
        "                                  ELSE f.quantity * reporting_cost_on (f.product_id, f.day) END), 0) AS cogs"
        "         FROM daily_product f, t WHERE f.day > t.today - 30 AND f.day <= t.today),"
        " b AS (SELECT COALESCE (sum (h.on_hand::bigint * reporting_cost_on (h.product_id, t.today - 30)), 0) AS value"
        "         FROM t, (SELECT DISTINCT ON (product_id, location_id) product_id, location_id, on_hand"
        "                    FROM stock_history, t WHERE day <= t.today - 30"
        "                   ORDER BY product_id, location_id, day DESC) h),"
        " a AS (SELECT ((b.value + (SELECT COALESCE (sum (value), 0) FROM v))::bigint + 1) / 2 AS average FROM b)"
        " SELECT jsonb_build_object ("
        "  'generated_at', " S_NOW_TEXT ","
        "  'total_value_cents', (SELECT COALESCE (sum (value), 0) FROM v),"
        "  'locations', (SELECT COALESCE (jsonb_agg (jsonb_build_object ('location_id', v.location_id,"
        "       'name', l.name, 'type', l.type, 'store_id', l.store_id, 'units', v.units,"
        "       'value_cents', v.value) ORDER BY v.location_id), '[]')"
        "       FROM v LEFT JOIN locations l USING (location_id)),"
        "  'alerts', " S_LOW_STOCK ("100") ","
        "  'turnover', (SELECT jsonb_build_object ('days', 30, 'cogs_cents', c.cogs,"
        "       'average_stock_value_cents', a.average,"
        "       'ratio', CASE WHEN a.average > 0 THEN round (c.cogs::numeric / a.average, 2) END)"
        "       FROM c, a))::text",
        0, NULL);
}
