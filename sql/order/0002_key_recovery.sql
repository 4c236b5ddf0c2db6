--  The order context, 0002: finding the order of an Idempotency-Key.
--
--  Why: the recovery sweep settles keys that a crashed worker left
--  'running' (order_saga_recover in actors/order/order_verbs.c); for each
--  it looks for the orders written under that key. Keys stuck this way are
--  rare, but the orders table is the large one: an index, not a scan.

CREATE INDEX orders_idem ON orders (idem_scope, idem_key) WHERE idem_key IS NOT NULL;
