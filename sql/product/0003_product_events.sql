--  Comptoir product context: product.updated events, through an outbox.
--
--  Why it is built this way:
--
--  - Other contexts keep their own copy of what they need of a product
--    (reporting names its rows, values stock at cost); they follow the
--    catalog through product.updated events instead of reading this
--    database. Each event carries the whole product as it is after the
--    change, so a subscriber applies the latest one and never merges.
--  - A trigger writes the event, so every path that changes a product (the
--    verbs, the seed, a manual UPDATE) announces it, in the same
--    transaction as the change: an event exists exactly when its change
--    committed. The relay (runtime/outbox_relay, started by the product
--    context) publishes the outbox in seq order.
--  - A soft delete is an update (active false), so it is announced too.
--  - The products that exist when this migration runs are announced once
--    here, so a subscriber that starts from sequence zero knows them all.
--  - The outbox has the shape of every context's (sql/order/0001_init.sql).

CREATE TABLE outbox (
    seq          bigserial PRIMARY KEY,
    topic        text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now (),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

--  The payload of product.updated for one row of products.
CREATE FUNCTION product_event_payload (p products) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN jsonb_build_object (
        'product_id', p.id, 'sku', p.sku, 'name', p.name, 'price_cents', p.price_cents,
        'cost_cents', p.cost_cents, 'barcode', p.barcode, 'category_id', p.category_id,
        'alert_threshold', p.alert_threshold, 'active', p.active,
        'at', to_char (now () AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));

CREATE FUNCTION product_announce () RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox (topic, payload) VALUES ('product.updated', product_event_payload (NEW));
    RETURN NULL;
END;
$$;

CREATE TRIGGER products_announce AFTER INSERT OR UPDATE ON products
    FOR EACH ROW EXECUTE FUNCTION product_announce ();

INSERT INTO outbox (topic, payload)
SELECT 'product.updated', product_event_payload (p) FROM products p ORDER BY p.id;
