/*  =========================================================================
    report_verbs - the handlers of the report.* verbs (manager, admin)

    Each handler takes the request envelope and the actor's
    reporting_state_t and returns the reply envelope (never NULL). Every
    figure is read from the read models that reporting_feed keeps, in one
    statement: their cost grows with the period asked and the size of the
    catalog, never with the length of the history. Days are UTC days.

    report.dashboard  {generated_at, today {revenue_cents, web_orders,
                      store_sales, by_channel {web, store}}, stores [{store_id,
                      name, revenue_7d_cents, sales_7d, trend_pct}],
                      top_products [{product_id, name, quantity,
                      revenue_cents}] (the 7 days to today, by revenue, 10),
                      low_stock [{product_id, name, location_id, available,
                      alert_threshold, level}] (20, least available first)}.
                      trend_pct: revenue of the 7 days to today against the
                      7 days before, in percent with one decimal; null when
                      the 7 days before had no revenue.
    report.sales      params from, to (YYYY-MM-DD, default the 7 days to
                      today; at most 366 days), group_by day | store |
                      product | channel (default day): {data: [{key, name,
                      orders_or_sales, quantity, revenue_cents, tax_cents}],
                      meta {from, to, group_by}}; key is a string: the day,
                      the store id or "web", the product id, the channel.
    report.inventory  {generated_at, total_value_cents, locations
                      [{location_id, name, type, store_id, units,
                      value_cents}], alerts [... as low_stock, up to 100],
                      turnover {days: 30, cogs_cents,
                      average_stock_value_cents, ratio}}: values at the
                      current cost. Turnover = cost of the goods sold in the
                      30 days to today / average stock value at cost, the
                      average being (value at the end of the day 30 days ago
                      + value now) / 2, each valued at the catalog's cost of
                      its day; the cost of goods sold is the sales' unit
                      cost for store sales and the catalog's cost at the end
                      of the order's day for web orders. ratio has two
                      decimals, null when the average is 0.
    =========================================================================
*/
#ifndef COMPTOIR_REPORT_VERBS_H
#define COMPTOIR_REPORT_VERBS_H

#include "envelope.h"
#include "reporting_state.h"

envelope_t *report_dashboard (const envelope_t *request, void *state);
envelope_t *report_sales (const envelope_t *request, void *state);
envelope_t *report_inventory (const envelope_t *request, void *state);

//  Days since 1970-01-01 of a strict "YYYY-MM-DD" (a real date, years
//  1970..9999). Returns 0 and sets *days, or -1.
int report_parse_day (const char *text, int64_t *days);

#endif
