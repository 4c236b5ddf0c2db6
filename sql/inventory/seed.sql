--  Comptoir inventory context: demo locations. Idempotent (ON CONFLICT DO
--  NOTHING on the unique name); run after the migrations.
--  Ids are assigned in this order on an empty database: the three stores are
--  1, 2, 3 (the store_id of the demo staff accounts), the warehouse 4, web 5.

INSERT INTO locations (name, type, province) VALUES
    ('Montréal – Sainte-Catherine', 'store', 'QC'),
    ('Toronto – Queen West', 'store', 'ON'),
    ('Vancouver – Robson', 'store', 'BC'),
    ('Entrepôt Laval', 'warehouse', 'QC'),
    ('Boutique en ligne', 'web', 'QC')
ON CONFLICT DO NOTHING;
