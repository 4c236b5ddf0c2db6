--  Comptoir inventory context: demo locations and stock. Idempotent (ON
--  CONFLICT DO NOTHING on the unique name, NOT EXISTS guards on the stock);
--  run after the migrations.
--  Ids are assigned in this order on an empty database: the three stores are
--  1, 2, 3 (the store_id of the demo staff accounts), the warehouse 4, web 5.

INSERT INTO locations (name, type, province) VALUES
    ('Montréal – Sainte-Catherine', 'store', 'QC'),
    ('Toronto – Queen West', 'store', 'ON'),
    ('Vancouver – Robson', 'store', 'BC'),
    ('Entrepôt Laval', 'warehouse', 'QC'),
    ('Boutique en ligne', 'web', 'QC')
ON CONFLICT DO NOTHING;

--  The stores' store_id is the store_id claim of the staff who work there.
UPDATE locations l SET store_id = v.store_id
  FROM (VALUES ('Montréal – Sainte-Catherine', 1), ('Toronto – Queen West', 2),
               ('Vancouver – Robson', 3)) AS v (name, store_id)
 WHERE l.name = v.name AND l.store_id IS NULL;

--  Stock of the 56 demo products (catalog ids 1..56 on a fresh catalog) at
--  every location: 20 to 200 units, a few rows at 2 to 4 so that alerts
--  show. Each level comes from a receipt through inventory_change, so the
--  movement journal sums to the stock from the start.
SELECT count (*) FROM (
    SELECT inventory_change (p.id, l.id,
               CASE WHEN (p.id + 3 * l.id) % 13 = 0 THEN 2 + (p.id % 3)
                    ELSE 20 + ((p.id * 37 + l.id * 11) % 181) END::integer,
               0, 'adjustment', 'adjustment:receipt', 'seed', 'admin')
      FROM generate_series (1, 56) AS p (id)
     CROSS JOIN locations l
     WHERE l.active
       AND NOT EXISTS (SELECT 1 FROM stock s WHERE s.product_id = p.id AND s.location_id = l.id)
) AS received;

--  One product sold out at the Toronto store: counted at zero.
SELECT count (*) FROM (
    SELECT inventory_change (s.product_id, s.location_id, -s.on_hand, 0,
                             'adjustment', 'adjustment:count', 'seed', 'admin')
      FROM stock s JOIN locations l ON l.id = s.location_id
     WHERE s.product_id = 7 AND l.name = 'Toronto – Queen West' AND s.on_hand > 0
       AND NOT EXISTS (SELECT 1 FROM movements m WHERE m.product_id = s.product_id
                          AND m.location_id = s.location_id AND m.reference = 'adjustment:count')
) AS counted;
