--  Comptoir sales context: three weeks of demo history at the three demo
--  stores, so that reports show trends on first start. Run after the
--  migrations, before the first live sale: it writes nothing when the sales
--  database already holds a sale (idempotent).
--
--  What it writes, day by day for the 21 days before today (UTC), at each
--  store: one register session (opened 13:00 with a 200.00 float, closed
--  23:00 with its Z report; the count is a few cents over or short some
--  days), 6 to 14 completed sales of the demo catalog (ids 1..56, with the
--  names, prices and costs the catalog seed gives them) with line discounts
--  now and then, paid in cash (change given), by credit or debit card or by
--  phone; and, two days after every ninth sale, the return of one unit of
--  its first line (cash back for a cash sale, else to the card). Receipt
--  numbers run 1..N per store in time order and the stores' counters go on
--  after them; sale.completed and sale.returned go to the outbox with
--  their historical `at`, in time order, so reporting rebuilds the same
--  figures from the events as from these rows. Amounts follow the rules of
--  the live context (actors/sales/sale_model.c): discounts and taxes
--  rounded half up, the taxes split over the lines (remainder to the first
--  line), returns refunding their share of net and tax.
--  The stock journal of the inventory is not replayed: this is history
--  before the demo stock was counted.

DO $seed$
DECLARE
    day_count constant integer := 21;
    v_today date := (now () AT TIME ZONE 'UTC')::date;
    d integer;
    st record;
    k integer;
    v_count integer;
    v_session bigint;
    v_seq bigint;
    v_sale bigint;
    v_opened timestamptz;
    v_at timestamptz;
    v_lines integer;
    v_subtotal bigint;
    v_discount bigint;
    v_net bigint;
    v_tax bigint;
    v_total bigint;
    v_tax_left bigint;
    v_taxes jsonb;
    v_rate record;
    v_method text;
    v_tendered bigint;
    p record;
BEGIN
    IF EXISTS (SELECT 1 FROM sales) OR EXISTS (SELECT 1 FROM register_sessions) THEN
        RETURN;
    END IF;
    CREATE TEMP TABLE seed_catalog (id bigint PRIMARY KEY, sku text, name text, price bigint, cost bigint)
        ON COMMIT DROP;
    INSERT INTO seed_catalog VALUES
        (1, 'CAF-1009', 'Filtres à café en papier no 4 (100)', 599, 246),
        (2, 'CAF-1008', 'Infuseur à thé en acier inoxydable', 1499, 809),
        (3, 'CAF-1007', 'Thé vert Sencha en vrac 100 g', 1295, 596),
        (4, 'CAF-1006', 'Bouilloire col de cygne 1 L', 7999, 4719),
        (5, 'CAF-1005', 'Cafetière italienne 6 tasses', 3499, 1784),
        (6, 'CAF-1004', 'Café en grains Espresso Saint-Laurent 1 kg', 3899, 1677),
        (7, 'CAF-1003', 'Café en grains Mont-Royal 340 g', 1699, 951),
        (8, 'CAF-1002', 'Moulin à café manuel en céramique', 5995, 2878),
        (9, 'CAF-1001', 'Cafetière à piston 1 L', 4999, 2000),
        (10, 'CUI-1008', 'Balance de cuisine numérique', 2999, 1200),
        (11, 'CUI-1007', 'Rouleau à pâtisserie en bois', 2499, 1324),
        (12, 'CUI-1006', 'Spatule en silicone', 1299, 585),
        (13, 'CUI-1005', 'Ensemble de bols à mélanger (3)', 3999, 2319),
        (14, 'CUI-1004', 'Planche à découper en érable', 5999, 3000),
        (15, 'CUI-1003', 'Couteau de chef 20 cm', 8999, 3780),
        (16, 'CUI-1002', 'Casserole inox 2 L avec couvercle', 6999, 3849),
        (17, 'CUI-1001', 'Poêle en fonte 26 cm', 5499, 2585),
        (18, 'TAB-1007', 'Beurrier en céramique avec couvercle', 2499, 1274),
        (19, 'TAB-1006', 'Théière en fonte 900 ml', 6999, 3010),
        (20, 'TAB-1005', 'Verres à vin Bordeaux (6)', 6499, 3639),
        (21, 'TAB-1004', 'Assiettes plates en grès (4)', 5999, 2880),
        (22, 'TAB-1003', 'Ensemble de 4 mugs en céramique', 4499, 1800),
        (23, 'TAB-1002', 'Mug isotherme Voyageur 470 ml', 3499, 1854),
        (24, 'TAB-1001', 'Tasse à café en grès 350 ml', 2200, 990),
        (25, 'MAI-1007', 'Miroir rond 50 cm', 8999, 3960),
        (26, 'MAI-1006', 'Horloge murale silencieuse', 4599, 2621),
        (27, 'MAI-1005', 'Cadre photo en bois 8 x 10', 2499, 1225),
        (28, 'MAI-1004', 'Tablette murale en chêne', 4999, 2050),
        (29, 'MAI-1003', 'Bougie parfumée Sapin baumier', 2800, 1512),
        (30, 'MAI-1002', 'Panier de rangement en jonc de mer', 3999, 1840),
        (31, 'MAI-1001', 'Lampe de table en laiton', 12999, 7669),
        (32, 'LIN-1006', 'Gants de cuisinier (paire)', 2299, 1035),
        (33, 'LIN-1005', 'Coussin décoratif en velours', 3999, 2319),
        (34, 'LIN-1004', 'Tablier de cuisine en denim', 3499, 1750),
        (35, 'LIN-1003', 'Linges à vaisselle en coton (3)', 1999, 840),
        (36, 'LIN-1002', 'Nappe en lin lavé 150 x 250 cm', 8999, 4949),
        (37, 'LIN-1001', 'Jeté en laine Chalet', 9999, 4700),
        (38, 'PLA-1007', 'Percolateur de camping 9 tasses', 4299, 1935),
        (39, 'PLA-1006', 'Gril de table au charbon', 7999, 4639),
        (40, 'PLA-1005', 'Chaise Adirondack pliante', 24999, 12500),
        (41, 'PLA-1004', 'Lanterne DEL rechargeable', 4499, 1890),
        (42, 'PLA-1003', 'Ensemble de vaisselle de camping', 5999, 3299),
        (43, 'PLA-1002', 'Bouteille isotherme 750 ml', 3299, 1551),
        (44, 'PLA-1001', 'Glacière rigide 25 L', 11999, 7199),
        (45, 'EPI-1006', 'Thé du Labrador en vrac 50 g', 1395, 809),
        (46, 'EPI-1005', 'Chocolat noir 70 % aux camerises', 699, 350),
        (47, 'EPI-1004', 'Caramel au sel de mer', 1199, 504),
        (48, 'EPI-1003', 'Confiture de bleuets du Lac-Saint-Jean', 899, 494),
        (49, 'EPI-1002', 'Beurre d''érable 250 g', 999, 470),
        (50, 'EPI-1001', 'Sirop d''érable ambré 540 ml', 1499, 899),
        (51, 'PAP-1006', 'Stylo plume en érable', 4499, 2699),
        (52, 'PAP-1005', 'Calendrier mural Paysages du Québec', 1999, 1039),
        (53, 'PAP-1004', 'Coffret cadeau Matin au chalet', 5499, 2420),
        (54, 'PAP-1003', 'Carte-cadeau Comptoir 50 $', 5000, 2850),
        (55, 'PAP-1002', 'Cartes de souhaits assorties (6)', 1899, 931),
        (56, 'PAP-1001', 'Carnet ligné couverture toilée', 2499, 1025);
    CREATE TEMP TABLE seed_rates (province text, name text, rate bigint, rank integer) ON COMMIT DROP;
    INSERT INTO seed_rates VALUES ('QC', 'GST', 5000, 1), ('QC', 'QST', 9975, 2), ('ON', 'HST', 13000, 1),
                                  ('BC', 'GST', 5000, 1), ('BC', 'PST', 7000, 2);
    CREATE TEMP TABLE seed_lines (line_no integer, product_id bigint, quantity integer, pct integer,
                                  gross bigint, discount bigint, net bigint, tax bigint) ON COMMIT DROP;

    --  Day by day, store by store: open, sell, take back, close.
    FOR d IN REVERSE day_count .. 1 LOOP
        FOR st IN SELECT s.id, s.province, s.code, (SELECT min (g.id) FROM registers g WHERE g.store_id = s.id) AS reg
                    FROM stores s WHERE s.id IN (1, 2, 3) ORDER BY s.id LOOP
            v_opened := ((v_today - d)::text || 'T13:00:00Z')::timestamptz;
            INSERT INTO register_sessions (register_id, opened_at, opened_by, opening_float_cents)
                 VALUES (st.reg, v_opened, (2 * st.id)::text, 20000) RETURNING id INTO v_session;
            v_count := 6 + (d * 7 + st.id * 5) % 9;
            FOR k IN 1 .. v_count LOOP
                v_at := v_opened + make_interval (secs => k * (36000 / (v_count + 1)) + (d * 37 + k * 11) % 300);
                TRUNCATE seed_lines;
                v_lines := 1 + (d + k + st.id) % 3;
                INSERT INTO seed_lines (line_no, product_id, quantity, pct)
                SELECT row_number () OVER (ORDER BY x.first), x.product_id, 1 + (d + k + x.product_id::integer) % 2,
                       CASE WHEN (d + k + x.product_id) % 7 = 0 THEN 10 ELSE 0 END
                  FROM (SELECT 1 + (d * 31 + k * 17 + st.id * 7 + l * 13) % 56 AS product_id, min (l) AS first
                          FROM generate_series (1, v_lines) AS l GROUP BY 1) AS x;
                UPDATE seed_lines l SET gross = c.price * l.quantity FROM seed_catalog c WHERE c.id = l.product_id;
                UPDATE seed_lines l SET discount = (l.gross * l.pct + 50) / 100;
                UPDATE seed_lines l SET net = l.gross - l.discount;
                SELECT sum (l.gross), sum (l.discount), sum (l.net) INTO v_subtotal, v_discount, v_net
                  FROM seed_lines l;
                v_taxes := '[]';
                v_tax := 0;
                FOR v_rate IN SELECT * FROM seed_rates r WHERE r.province = st.province ORDER BY r.rank LOOP
                    v_taxes := v_taxes || jsonb_build_array (jsonb_build_object ('name', v_rate.name,
                        'rate', CASE v_rate.rate WHEN 9975 THEN '9.975' ELSE (v_rate.rate / 1000)::text END,
                        'amount_cents', (v_net * v_rate.rate + 50000) / 100000));
                    v_tax := v_tax + (v_net * v_rate.rate + 50000) / 100000;
                END LOOP;
                UPDATE seed_lines l SET tax = CASE WHEN v_net > 0 THEN v_tax * l.net / v_net ELSE 0 END;
                SELECT v_tax - sum (l.tax) INTO v_tax_left FROM seed_lines l;
                UPDATE seed_lines l SET tax = l.tax + v_tax_left WHERE l.line_no = 1;
                v_total := v_net + v_tax;
                v_method := (ARRAY ['cash', 'credit_card', 'debit_card', 'cash', 'mobile']) [1 + (d + k * 3 + st.id) % 5];
                v_tendered := CASE WHEN v_method = 'cash' THEN ((v_total + 499) / 500) * 500 ELSE v_total END;
                UPDATE stores SET next_receipt = next_receipt + 1 WHERE id = st.id RETURNING next_receipt - 1 INTO v_seq;
                INSERT INTO sales (sale_ref, status, store_id, register_id, session_id, cashier_id,
                                   receipt_seq, receipt_number, subtotal_cents, discount_cents, tax_cents,
                                   total_cents, change_cents, taxes, created_at, completed_at)
                     VALUES ('seed:' || st.id || ':' || v_seq, 'completed', st.id, st.reg, v_session,
                             (2 * st.id + 1)::text, v_seq, st.code || '-' || lpad (v_seq::text, 6, '0'),
                             v_subtotal, v_discount, v_tax, v_total, v_tendered - v_total, v_taxes, v_at, v_at)
                  RETURNING id INTO v_sale;
                INSERT INTO sale_items (sale_id, line_no, product_id, sku, name, quantity, unit_price_cents,
                                        discount_percent, discount_cents, net_cents, tax_cents, cost_cents)
                SELECT v_sale, l.line_no, l.product_id, c.sku, c.name, l.quantity, c.price, l.pct,
                       l.discount, l.net, l.tax, c.cost
                  FROM seed_lines l JOIN seed_catalog c ON c.id = l.product_id;
                INSERT INTO sale_payments (sale_id, line_no, method, amount_cents, authorization_code)
                     VALUES (v_sale, 1, v_method, v_tendered,
                             CASE WHEN v_method <> 'cash' THEN 'A' || lpad ((v_sale * 7919 % 1000000)::text, 6, '0') END);
            END LOOP;

            --  Returns: one unit of the first line of every ninth sale made
            --  two days before, in today's session (its share of net and tax).
            FOR p IN SELECT s.id, s.completed_at + interval '2 days' AS at,
                            (SELECT y.method FROM sale_payments y WHERE y.sale_id = s.id) AS method,
                            i.product_id, i.net_cents / i.quantity AS net, i.tax_cents / i.quantity AS tax,
                            i.cost_cents
                       FROM sales s JOIN sale_items i ON i.sale_id = s.id AND i.line_no = 1
                      WHERE s.store_id = st.id AND s.sale_ref LIKE 'seed:%' AND s.id % 9 = 0
                        AND s.completed_at >= v_opened - interval '2 days'
                        AND s.completed_at < v_opened - interval '1 day'
                      ORDER BY s.id LOOP
                WITH r AS (
                    INSERT INTO returns (sale_id, return_ref, store_id, register_id, session_id, cashier_id,
                                         reason, net_cents, tax_cents, refund_cents, refunds, cash_refund_cents,
                                         stock_back, created_at)
                    VALUES (p.id, 'seed-return:' || p.id, st.id, st.reg, v_session, (2 * st.id + 1)::text,
                            'Retour client', p.net, p.tax, p.net + p.tax,
                            jsonb_build_array (jsonb_build_object ('method', p.method, 'amount_cents', p.net + p.tax)),
                            CASE WHEN p.method = 'cash' THEN p.net + p.tax ELSE 0 END, true, p.at)
                    RETURNING id)
                INSERT INTO return_items (return_id, product_id, quantity, net_cents, tax_cents, refund_cents,
                                          cost_cents)
                SELECT r.id, p.product_id, 1, p.net, p.tax, p.net + p.tax, p.cost_cents FROM r;
            END LOOP;

            --  The close, with its Z report as register.close writes it (a
            --  few cents over or short some days).
            WITH z AS (
                SELECT x.id, f.j, (f.j -> 'payments' ->> 'cash')::bigint AS cash_in,
                       x.opening_float_cents + (f.j -> 'payments' ->> 'cash')::bigint
                         - (f.j ->> 'change_cents')::bigint - (f.j ->> 'cash_refunds_cents')::bigint AS expected,
                       CASE x.id % 5 WHEN 0 THEN -25 WHEN 3 THEN 10 ELSE 0 END AS off
                  FROM register_sessions x, LATERAL (SELECT sales_figures (st.id, x.id, NULL, NULL) AS j) AS f
                 WHERE x.id = v_session)
            UPDATE register_sessions x
               SET closed_at = x.opened_at + interval '10 hours', closed_by = x.opened_by,
                   counted_cash_cents = z.expected + z.off,
                   report = z.j || jsonb_build_object ('session_id', x.id, 'register_id', x.register_id,
                       'store_id', st.id, 'opened_at', sales_time (x.opened_at), 'opened_by', x.opened_by,
                       'closed_at', sales_time (x.opened_at + interval '10 hours'), 'closed_by', x.opened_by,
                       'opening_float_cents', x.opening_float_cents, 'cash_in_cents', z.cash_in,
                       'expected_cash_cents', z.expected, 'counted_cash_cents', z.expected + z.off,
                       'over_short_cents', z.off)
              FROM z WHERE x.id = z.id;
        END LOOP;
    END LOOP;

    --  The events, in time order, with their historical times.
    INSERT INTO outbox (topic, payload, created_at)
    SELECT e.topic, e.payload, e.at FROM (
        SELECT 'sale.completed' AS topic, sales_completed_event (s,
                   (SELECT jsonb_agg (jsonb_build_object ('method', y.method, 'amount_cents', y.amount_cents)
                                      ORDER BY y.line_no) FROM sale_payments y WHERE y.sale_id = s.id)) AS payload,
               s.completed_at AS at, 1 AS kind, s.id
          FROM sales s WHERE s.sale_ref LIKE 'seed:%'
        UNION ALL
        SELECT 'sale.returned', sales_returned_event (r,
                   (SELECT jsonb_agg (jsonb_build_object ('product_id', i.product_id, 'quantity', i.quantity,
                        'net_cents', i.net_cents, 'tax_cents', i.tax_cents, 'refund_cents', i.refund_cents,
                        'cost_cents', i.cost_cents) ORDER BY i.product_id) FROM return_items i WHERE i.return_id = r.id)),
               r.created_at, 2, r.id
          FROM returns r WHERE r.return_ref LIKE 'seed-return:%') AS e
     ORDER BY e.at, e.kind, e.id;
END
$seed$;
