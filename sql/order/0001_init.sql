--  The order context's schema: orders, their lines and history, payments,
--  the idempotency keys of checkout, and the outbox.
--
--  Why it is built this way:
--
--  - The checkout saga keeps its state here, not only in memory: orders.step
--    says how far a saga got (reserving, authorizing, confirming, capturing,
--    done), so a worker that restarts after a crash finds the sagas it left
--    half-done and drives each to a final state (undo, or finish).
--  - The order row is written before the stock is reserved: its number names
--    the reservation ("order:<number>"), so even a crash between the reserve
--    and the next write leaves enough to release the stock.
--  - Order numbers come from a sequence ('W-YYYY-NNNNNN'): unique without a
--    lock, human-readable; gaps after a rollback are harmless for web orders.
--  - Idempotency keys are scoped to the caller (its sub), stored with a hash
--    of the request and, once the first attempt ends, its answer; a unique
--    (scope, key) lets exactly one of many concurrent attempts run.
--  - Money is bigint cents. Events (order.confirmed, order.cancelled) go to
--    the outbox in the same transaction as the change they announce.

CREATE SEQUENCE order_number_seq;

--  At least six digits; lpad alone would cut a longer number (and repeat one).
CREATE FUNCTION order_next_number () RETURNS text LANGUAGE sql AS $$
    SELECT 'W-' || to_char (now (), 'YYYY') || '-' || lpad (n::text, greatest (6, length (n::text)), '0')
      FROM (SELECT nextval ('order_number_seq') AS n) AS s;
$$;

CREATE TABLE orders (
    id               bigserial PRIMARY KEY,
    number           text NOT NULL UNIQUE DEFAULT order_next_number (),
    customer_id      text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'confirmed', 'shipped', 'delivered', 'cancelled')),
    step             text NOT NULL DEFAULT 'reserving'
                     CHECK (step IN ('reserving', 'authorizing', 'confirming', 'capturing',
                                     'undoing', 'done')),
    subtotal_cents   bigint NOT NULL CHECK (subtotal_cents >= 0),
    tax_cents        bigint NOT NULL CHECK (tax_cents >= 0),
    shipping_cents   bigint NOT NULL CHECK (shipping_cents >= 0),
    total_cents      bigint NOT NULL CHECK (total_cents >= 0),
    taxes            jsonb NOT NULL DEFAULT '[]',
    shipping_address jsonb NOT NULL DEFAULT '{}',
    cart_id          text,
    idem_scope       text,
    idem_key         text,
    created_at       timestamptz NOT NULL DEFAULT now (),
    updated_at       timestamptz NOT NULL DEFAULT now ()
);
CREATE INDEX orders_customer ON orders (customer_id, id DESC);
CREATE INDEX orders_unfinished ON orders (updated_at) WHERE step <> 'done';

CREATE TABLE order_items (
    order_id         bigint NOT NULL REFERENCES orders (id),
    product_id       bigint NOT NULL CHECK (product_id > 0),
    sku              text NOT NULL,
    name             text NOT NULL,
    unit_price_cents bigint NOT NULL CHECK (unit_price_cents >= 0),
    quantity         integer NOT NULL CHECK (quantity > 0),
    line_total_cents bigint NOT NULL CHECK (line_total_cents >= 0),
    PRIMARY KEY (order_id, product_id)
);

CREATE TABLE order_history (
    id       bigserial PRIMARY KEY,
    order_id bigint NOT NULL REFERENCES orders (id),
    status   text NOT NULL,
    at       timestamptz NOT NULL DEFAULT clock_timestamp ()
);
CREATE INDEX order_history_order ON order_history (order_id, id);

CREATE TABLE payments (
    id           bigserial PRIMARY KEY,
    order_id     bigint NOT NULL REFERENCES orders (id),
    method       text NOT NULL,
    token_last   text NOT NULL,
    amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
    status       text NOT NULL
                 CHECK (status IN ('authorized', 'captured', 'voided', 'refunded', 'declined')),
    created_at   timestamptz NOT NULL DEFAULT now (),
    updated_at   timestamptz NOT NULL DEFAULT now ()
);
CREATE INDEX payments_order ON payments (order_id, id);

CREATE TABLE idempotency_keys (
    scope        text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done')),
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now (),
    PRIMARY KEY (scope, key)
);

CREATE TABLE outbox (
    seq          bigserial PRIMARY KEY,
    topic        text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now (),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
