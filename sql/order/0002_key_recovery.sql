--  The order context, 0002: what the recovery sweep looks up.
--
--  Why: the sweep (order_saga_recover in actors/order/order_verbs.c) runs
--  every few seconds. It settles the Idempotency-Keys a crashed worker left
--  'running' (looking up the orders written under each), and it deletes
--  the keys older than their 24 hours. Both tables only grow: indexes, not
--  scans, or the sweep's cost grows with every checkout ever made.

CREATE INDEX orders_idem ON orders (idem_scope, idem_key) WHERE idem_key IS NOT NULL;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
