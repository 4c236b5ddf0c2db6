/*  =========================================================================
    sales_render - a sale and a return as API.md shows them

    Built in SQL (jsonb_build_object) from the rows, in one statement, so
    a sale, its lines, payments and returns are read from one snapshot.
    =========================================================================
*/
#ifndef COMPTOIR_SALES_RENDER_H
#define COMPTOIR_SALES_RENDER_H

#include "envelope.h"
#include "sales_state.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

//  RFC 3339 UTC of a timestamptz column, in SQL.
#define SALES_TS(col) "to_char (" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

//  A return r as JSON (jsonb), in SQL.
#define SALES_RETURN_JSON \
    "jsonb_build_object ('id', r.id, 'sale_id', r.sale_id, 'store_id', r.store_id, " \
    "'register_id', r.register_id, 'cashier_id', r.cashier_id, 'reason', r.reason, " \
    "'items', COALESCE ((SELECT jsonb_agg (jsonb_build_object ('product_id', ri.product_id, " \
    "   'quantity', ri.quantity, 'net_cents', ri.net_cents, 'tax_cents', ri.tax_cents, " \
    "   'refund_cents', ri.refund_cents) ORDER BY ri.product_id) " \
    "   FROM return_items ri WHERE ri.return_id = r.id), '[]'), " \
    "'net_cents', r.net_cents, 'tax_cents', r.tax_cents, 'refund_cents', r.refund_cents, " \
    "'refunds', r.refunds, 'created_at', " SALES_TS ("r.created_at") ")"

//  A sale s as JSON (jsonb), in SQL: with each line's returned quantity
//  and the sale's returns.
#define SALES_SALE_JSON \
    "jsonb_build_object ('id', s.id, 'receipt_number', s.receipt_number, 'store_id', s.store_id, " \
    "'register_id', s.register_id, 'session_id', s.session_id, 'cashier_id', s.cashier_id, " \
    "'customer_id', s.customer_id, " \
    "'items', COALESCE ((SELECT jsonb_agg (jsonb_build_object ('product_id', i.product_id, " \
    "   'sku', i.sku, 'name', i.name, 'quantity', i.quantity, 'unit_price_cents', i.unit_price_cents, " \
    "   'discount_percent', i.discount_percent, 'discount_cents', i.discount_cents, " \
    "   'net_cents', i.net_cents, 'tax_cents', i.tax_cents, " \
    "   'returned_quantity', (SELECT COALESCE (sum (ri.quantity), 0) FROM return_items ri " \
    "       JOIN returns r ON r.id = ri.return_id WHERE r.sale_id = s.id AND ri.product_id = i.product_id)) " \
    "   ORDER BY i.line_no) FROM sale_items i WHERE i.sale_id = s.id), '[]'), " \
    "'subtotal_cents', s.subtotal_cents, 'discount_cents', s.discount_cents, 'taxes', s.taxes, " \
    "'tax_cents', s.tax_cents, 'total_cents', s.total_cents, " \
    "'payments', COALESCE ((SELECT jsonb_agg (jsonb_build_object ('method', p.method, " \
    "   'amount_cents', p.amount_cents) ORDER BY p.line_no) FROM sale_payments p WHERE p.sale_id = s.id), '[]'), " \
    "'change_cents', s.change_cents, 'status', s.status, 'created_at', " SALES_TS ("s.completed_at") ", " \
    "'returns', COALESCE ((SELECT jsonb_agg (" SALES_RETURN_JSON " ORDER BY r.id) " \
    "   FROM returns r WHERE r.sale_id = s.id), '[]'))"

//  The completed sale id; NULL when absent (*failed set on a db failure).
json_t *sales_render_sale (sales_state_t *self, int64_t id, bool *failed);

//  The return id; NULL when absent (*failed set on a db failure).
json_t *sales_render_return (sales_state_t *self, int64_t id, bool *failed);

//  The reply with the rendered sale or return (what "sale" or "return"),
//  status 200 or 201; 404 or 503 when it cannot be read.
envelope_t *sales_render_reply (sales_state_t *self, const envelope_t *request, const char *what,
                                int64_t id, int status);

#endif
