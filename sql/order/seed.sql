--  Comptoir order context: demo history, three weeks of web orders, so the
--  reporting dashboard shows trends on first start.
--
--  Why it is built this way:
--
--  - Every order is whole, as checkout leaves one: its lines, taxes (QC:
--    GST 5 % and QST 9.975 % of the subtotal, each rounded half up), the
--    shipping rule (999 cents under 7500), its history, its captured (or,
--    cancelled, refunded) payment. One in seven is cancelled the day after
--    its confirmation; the older ones are shipped or delivered.
--  - Its events go to the outbox exactly as the order context writes them
--    (order.confirmed, order.cancelled: the payload of s_transition in
--    actors/order/order_verbs.c), with the historical time in `at` and in
--    created_at, in time order: the relay publishes them like any other,
--    and reporting's figures equal the sums of these tables.
--  - Products 1 to 9 are the demo catalog's coffee and tea products as
--    sql/product/seed.sql numbers them on a fresh database (same SKU, name
--    and price); customers 1 to 3 are the demo customers.
--  - Idempotent: nothing happens when the history is there (cart_id
--    'demo-history' marks it). Times are relative to now: the history ends
--    yesterday (UTC) whenever it is loaded.

DO $$
DECLARE
    v_ids     bigint [] := ARRAY [1, 2, 3, 4, 5, 6, 7, 8, 9];
    v_skus    text [] := ARRAY ['CAF-1009', 'CAF-1008', 'CAF-1007', 'CAF-1006', 'CAF-1005',
                                'CAF-1004', 'CAF-1003', 'CAF-1002', 'CAF-1001'];
    v_names   text [] := ARRAY ['Filtres à café en papier no 4 (100)', 'Infuseur à thé en acier inoxydable',
                                'Thé vert Sencha en vrac 100 g', 'Bouilloire col de cygne 1 L',
                                'Cafetière italienne 6 tasses', 'Café en grains Espresso Saint-Laurent 1 kg',
                                'Café en grains Mont-Royal 340 g', 'Moulin à café manuel en céramique',
                                'Cafetière à piston 1 L'];
    v_prices  bigint [] := ARRAY [599, 1499, 1295, 7999, 3499, 3899, 1699, 5995, 4999];
    v_midnight timestamptz := date_trunc ('day', now () AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    v_k        integer := 0;
    v_day      integer;
    v_i        integer;
    v_line     integer;
    v_product  integer;
    v_quantity integer;
    v_order    bigint;
    v_at       timestamptz;
    v_end      timestamptz;
    v_subtotal bigint;
    v_gst      bigint;
    v_qst      bigint;
    v_shipping bigint;
    v_status   text;
BEGIN
    IF EXISTS (SELECT 1 FROM orders WHERE cart_id = 'demo-history') THEN
        RETURN;
    END IF;
    FOR v_day IN REVERSE 21..1 LOOP
        FOR v_i IN 1 .. 2 + (v_day * 7) % 4 LOOP
            v_k := v_k + 1;
            v_at := v_midnight - make_interval (days => v_day)
                  + make_interval (hours => 9 + (v_i * 5) % 12, mins => (v_k * 17) % 60);
            INSERT INTO orders (customer_id, status, step, subtotal_cents, tax_cents, shipping_cents,
                                total_cents, shipping_address, cart_id, created_at, updated_at)
            VALUES ((1 + v_k % 3)::text, 'pending', 'done', 0, 0, 0, 0,
                    '{"full_name": "Client Démo", "line1": "1 rue Sainte-Catherine", "city": "Montréal",
                      "province": "QC", "postal_code": "H2X 1Y4", "country": "CA"}',
                    'demo-history', v_at, v_at)
            RETURNING id INTO v_order;
            v_subtotal := 0;
            FOR v_line IN 1 .. 1 + v_k % 3 LOOP
                v_product := 1 + (v_k * 5 + v_line * 3) % 9;
                v_quantity := 1 + (v_k + v_line) % 2;
                INSERT INTO order_items (order_id, product_id, sku, name, unit_price_cents, quantity,
                                         line_total_cents)
                VALUES (v_order, v_ids [v_product], v_skus [v_product], v_names [v_product],
                        v_prices [v_product], v_quantity, v_prices [v_product] * v_quantity);
                v_subtotal := v_subtotal + v_prices [v_product] * v_quantity;
            END LOOP;
            v_gst := (v_subtotal * 5 + 50) / 100;
            v_qst := (v_subtotal * 9975 + 50000) / 100000;
            v_shipping := CASE WHEN v_subtotal < 7500 THEN 999 ELSE 0 END;
            v_status := CASE WHEN v_k % 7 = 3 THEN 'cancelled' WHEN v_day > 5 THEN 'delivered'
                             WHEN v_day > 2 THEN 'shipped' ELSE 'confirmed' END;
            v_end := CASE v_status WHEN 'cancelled' THEN least (v_at + interval '1 day', now () - interval '1 minute')
                                   WHEN 'delivered' THEN v_at + interval '3 days'
                                   WHEN 'shipped' THEN v_at + interval '1 day'
                                   ELSE v_at + interval '1 second' END;
            UPDATE orders
               SET subtotal_cents = v_subtotal, tax_cents = v_gst + v_qst, shipping_cents = v_shipping,
                   total_cents = v_subtotal + v_gst + v_qst + v_shipping, status = v_status,
                   taxes = jsonb_build_array (
                       jsonb_build_object ('name', 'GST', 'rate', '5', 'amount_cents', v_gst),
                       jsonb_build_object ('name', 'QST', 'rate', '9.975', 'amount_cents', v_qst)),
                   updated_at = v_end
             WHERE id = v_order;
            INSERT INTO order_history (order_id, status, at)
            SELECT v_order, s.status, s.at
              FROM (VALUES ('pending', v_at), ('confirmed', v_at + interval '1 second'),
                           ('shipped', v_at + interval '1 day'), ('delivered', v_at + interval '3 days'),
                           ('cancelled', v_end)) AS s (status, at)
             WHERE s.status IN ('pending', 'confirmed')
                OR (s.status = 'shipped' AND v_status IN ('shipped', 'delivered'))
                OR s.status = v_status AND v_status IN ('delivered', 'cancelled');
            INSERT INTO payments (order_id, method, token_last, amount_cents, status, created_at, updated_at)
            VALUES (v_order, 'card', 'visa', v_subtotal + v_gst + v_qst + v_shipping,
                    CASE WHEN v_status = 'cancelled' THEN 'refunded' ELSE 'captured' END, v_at, v_end);
        END LOOP;
    END LOOP;
    --  The events, in time order, as s_transition writes them.
    INSERT INTO outbox (topic, payload, created_at)
    SELECT 'order.' || h.status,
           jsonb_build_object ('order_id', o.id, 'number', o.number, 'customer_id', o.customer_id,
               'subtotal_cents', o.subtotal_cents, 'tax_cents', o.tax_cents,
               'shipping_cents', o.shipping_cents, 'total_cents', o.total_cents,
               'at', to_char (h.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'items', (SELECT jsonb_agg (jsonb_build_object ('product_id', i.product_id,
                             'sku', i.sku, 'quantity', i.quantity,
                             'unit_price_cents', i.unit_price_cents,
                             'line_total_cents', i.line_total_cents) ORDER BY i.product_id)
                           FROM order_items i WHERE i.order_id = o.id)),
           h.at
      FROM orders o JOIN order_history h ON h.order_id = o.id
     WHERE o.cart_id = 'demo-history' AND h.status IN ('confirmed', 'cancelled')
     ORDER BY h.at, h.id;
END;
$$;
