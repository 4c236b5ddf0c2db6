--  The sales context's schema: the stores' points of sale. Stores and their
--  registers, cash-drawer sessions, sales with their lines and payments,
--  returns, the idempotency keys of sales and returns, and the outbox.
--
--  Why it is built this way:
--
--  - Receipt numbers are gapless per store (S01-000154): a sequence would
--    leave a hole at every rollback, so the number is the store row's
--    counter, taken (UPDATE ... RETURNING) in the very transaction that
--    records the completed sale. A sale that fails or a worker killed
--    half-way spends no number; concurrent sales of one store queue on that
--    row for the length of one short transaction.
--  - A sale is written 'pending' (with its sale_ref, the name of its stock
--    movements in inventory) before stock is taken; a crash between
--    "stock taken" and "sale recorded" leaves that row, and the recovery
--    sweep gives the stock back (stock.sell_undo) and lets the key go:
--    'pending' -> 'voiding' -> 'void'. A voided row keeps no number.
--  - A session is the cash drawer of one register between open and close;
--    at most one open per register (a unique partial index, not a check in
--    code, so two concurrent opens cannot both win). Its Z report is
--    stored when it closes, so it reads the same forever.
--  - Lines carry what the catalog said at the time of sale (sku, name,
--    price, cost) and the split of the sale's taxes, so returns refund
--    exactly what was paid and reports need no other context.
--  - sales_figures () computes the figures a Z report and the daily
--    summary share, once, in SQL over the completed rows.
--  - Money is bigint cents. Events (sale.completed, sale.returned) go to the
--    outbox in the same transaction as the change they announce.

CREATE TABLE stores (
    id           bigint PRIMARY KEY CHECK (id > 0),     --  the staff tokens' store_id
    code         text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9]{1,8}$'),
    name         text NOT NULL,
    address      text NOT NULL DEFAULT '',
    province     text NOT NULL CHECK (province ~ '^[A-Z]{2}$'),
    next_receipt bigint NOT NULL DEFAULT 1 CHECK (next_receipt > 0)
);

CREATE TABLE registers (
    id       bigserial PRIMARY KEY,
    store_id bigint NOT NULL REFERENCES stores (id),
    name     text NOT NULL,
    UNIQUE (store_id, name)
);

CREATE TABLE register_sessions (
    id                  bigserial PRIMARY KEY,
    register_id         bigint NOT NULL REFERENCES registers (id),
    opened_at           timestamptz NOT NULL DEFAULT now (),
    opened_by           text NOT NULL,
    opening_float_cents bigint NOT NULL CHECK (opening_float_cents >= 0),
    closed_at           timestamptz,
    closed_by           text,
    counted_cash_cents  bigint CHECK (counted_cash_cents >= 0),
    report              jsonb,
    CHECK ((closed_at IS NULL) = (closed_by IS NULL)
       AND (closed_at IS NULL) = (counted_cash_cents IS NULL)
       AND (closed_at IS NULL) = (report IS NULL))
);
CREATE UNIQUE INDEX register_sessions_open ON register_sessions (register_id) WHERE closed_at IS NULL;

CREATE TABLE sales (
    id             bigserial PRIMARY KEY,
    sale_ref       text NOT NULL UNIQUE,
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'completed', 'voiding', 'void')),
    store_id       bigint NOT NULL REFERENCES stores (id),
    register_id    bigint NOT NULL REFERENCES registers (id),
    session_id     bigint NOT NULL REFERENCES register_sessions (id),
    cashier_id     text NOT NULL,
    customer_id    bigint CHECK (customer_id > 0),
    receipt_seq    bigint,
    receipt_number text UNIQUE,
    subtotal_cents bigint NOT NULL CHECK (subtotal_cents >= 0),
    discount_cents bigint NOT NULL CHECK (discount_cents >= 0 AND discount_cents <= subtotal_cents),
    tax_cents      bigint NOT NULL CHECK (tax_cents >= 0),
    total_cents    bigint NOT NULL CHECK (total_cents = subtotal_cents - discount_cents + tax_cents),
    change_cents   bigint NOT NULL DEFAULT 0 CHECK (change_cents >= 0),
    taxes          jsonb NOT NULL DEFAULT '[]',
    idem_scope     text,
    idem_key       text,
    created_at     timestamptz NOT NULL DEFAULT now (),
    completed_at   timestamptz,
    UNIQUE (store_id, receipt_seq),
    CHECK ((status = 'completed') = (receipt_seq IS NOT NULL)
       AND (receipt_seq IS NULL) = (receipt_number IS NULL)
       AND (receipt_seq IS NULL) = (completed_at IS NULL))
);
CREATE INDEX sales_unfinished ON sales (created_at) WHERE status IN ('pending', 'voiding');
CREATE INDEX sales_store_day ON sales (store_id, completed_at) WHERE status = 'completed';
CREATE INDEX sales_session ON sales (session_id) WHERE status = 'completed';
CREATE INDEX sales_idem ON sales (idem_scope, idem_key) WHERE idem_key IS NOT NULL;

CREATE TABLE sale_items (
    sale_id          bigint NOT NULL REFERENCES sales (id),
    line_no          integer NOT NULL CHECK (line_no > 0),
    product_id       bigint NOT NULL CHECK (product_id > 0),
    sku              text NOT NULL,
    name             text NOT NULL,
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price_cents bigint NOT NULL CHECK (unit_price_cents >= 0),
    discount_percent integer NOT NULL CHECK (discount_percent BETWEEN 0 AND 100),
    discount_cents   bigint NOT NULL CHECK (discount_cents >= 0),
    net_cents        bigint NOT NULL CHECK (net_cents = unit_price_cents * quantity - discount_cents),
    tax_cents        bigint NOT NULL CHECK (tax_cents >= 0),
    cost_cents       bigint NOT NULL CHECK (cost_cents >= 0),
    PRIMARY KEY (sale_id, product_id),
    UNIQUE (sale_id, line_no)
);

CREATE TABLE sale_payments (
    sale_id      bigint NOT NULL REFERENCES sales (id),
    line_no      integer NOT NULL CHECK (line_no > 0),
    method       text NOT NULL CHECK (method IN ('cash', 'credit_card', 'debit_card', 'mobile')),
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    authorization_code text,                  --  the gateway's, for card methods
    PRIMARY KEY (sale_id, line_no)
);

CREATE TABLE returns (
    id                bigserial PRIMARY KEY,
    sale_id           bigint NOT NULL REFERENCES sales (id),
    return_ref        text NOT NULL UNIQUE,
    store_id          bigint NOT NULL REFERENCES stores (id),
    register_id       bigint REFERENCES registers (id),
    session_id        bigint REFERENCES register_sessions (id),   --  where the cash went out
    cashier_id        text NOT NULL,
    reason            text NOT NULL,
    net_cents         bigint NOT NULL CHECK (net_cents >= 0),
    tax_cents         bigint NOT NULL CHECK (tax_cents >= 0),
    refund_cents      bigint NOT NULL CHECK (refund_cents = net_cents + tax_cents),
    refunds           jsonb NOT NULL DEFAULT '[]',                 --  [{method, amount_cents}]
    cash_refund_cents bigint NOT NULL DEFAULT 0 CHECK (cash_refund_cents >= 0),
    stock_back        boolean NOT NULL DEFAULT false,
    idem_scope        text,
    idem_key          text,
    created_at        timestamptz NOT NULL DEFAULT now (),
    CHECK (cash_refund_cents = 0 OR session_id IS NOT NULL)
);
CREATE INDEX returns_idem ON returns (idem_scope, idem_key) WHERE idem_key IS NOT NULL;
CREATE INDEX returns_sale ON returns (sale_id, id);
CREATE INDEX returns_store_day ON returns (store_id, created_at);
CREATE INDEX returns_session ON returns (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX returns_stock_pending ON returns (created_at) WHERE NOT stock_back;

CREATE TABLE return_items (
    return_id    bigint NOT NULL REFERENCES returns (id),
    product_id   bigint NOT NULL CHECK (product_id > 0),
    quantity     integer NOT NULL CHECK (quantity > 0),
    net_cents    bigint NOT NULL CHECK (net_cents >= 0),
    tax_cents    bigint NOT NULL CHECK (tax_cents >= 0),
    refund_cents bigint NOT NULL CHECK (refund_cents = net_cents + tax_cents),
    cost_cents   bigint NOT NULL CHECK (cost_cents >= 0),
    PRIMARY KEY (return_id, product_id)
);

CREATE TABLE idempotency_keys (
    scope        text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done')),
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now (),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE outbox (
    seq          bigserial PRIMARY KEY,
    topic        text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now (),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

--  The events, built once for the live sales and the seed's history.
--  sale.completed: the sale row as it completes (its lines were written
--  before, when it was pending) and its payments [{method, amount_cents}].
CREATE FUNCTION sales_time (t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char (t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
$$;

CREATE FUNCTION sales_completed_event (s sales, p_payments jsonb) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object (
        'sale_id', s.id, 'receipt_number', s.receipt_number, 'store_id', s.store_id,
        'register_id', s.register_id, 'cashier_id', s.cashier_id, 'customer_id', s.customer_id,
        'at', sales_time (s.completed_at), 'subtotal_cents', s.subtotal_cents,
        'discount_cents', s.discount_cents, 'tax_cents', s.tax_cents, 'total_cents', s.total_cents,
        'items', (SELECT jsonb_agg (jsonb_build_object ('product_id', i.product_id, 'sku', i.sku,
                      'name', i.name, 'quantity', i.quantity, 'unit_price_cents', i.unit_price_cents,
                      'discount_percent', i.discount_percent, 'discount_cents', i.discount_cents,
                      'net_cents', i.net_cents, 'tax_cents', i.tax_cents, 'cost_cents', i.cost_cents)
                      ORDER BY i.line_no)
                    FROM sale_items i WHERE i.sale_id = s.id),
        'payments', p_payments, 'change_cents', s.change_cents);
$$;

--  sale.returned: the return row and its lines [{product_id, quantity,
--  net_cents, tax_cents, refund_cents, cost_cents}].
CREATE FUNCTION sales_returned_event (r returns, p_items jsonb) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object (
        'return_id', r.id, 'sale_id', r.sale_id,
        'receipt_number', (SELECT receipt_number FROM sales WHERE id = r.sale_id),
        'store_id', r.store_id, 'register_id', r.register_id, 'cashier_id', r.cashier_id,
        'at', sales_time (r.created_at), 'items', p_items,
        'net_cents', r.net_cents, 'tax_cents', r.tax_cents, 'refund_cents', r.refund_cents);
$$;

--  The figures of a store's completed sales and returns: of one register
--  session (p_session) or of a time range [p_from, p_to). Sales count by
--  when they completed, returns by when they were made (and, for a
--  session, where their cash went out).
--    gross = goods at list price; discounts; returns = goods returned (net
--    of their discount, before tax); net = gross - discounts - returns;
--    tax = taxes charged - taxes refunded; total = net + tax;
--    payments = what each method took (cash as handed over), change given,
--    refunds by method.
CREATE FUNCTION sales_figures (p_store bigint, p_session bigint, p_from timestamptz, p_to timestamptz)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    WITH s AS (
        SELECT * FROM sales
         WHERE status = 'completed' AND store_id = p_store
           AND (p_session IS NULL OR session_id = p_session)
           AND (p_from IS NULL OR completed_at >= p_from)
           AND (p_to IS NULL OR completed_at < p_to)),
    r AS (
        SELECT * FROM returns
         WHERE store_id = p_store
           AND (p_session IS NULL OR session_id = p_session)
           AND (p_from IS NULL OR created_at >= p_from)
           AND (p_to IS NULL OR created_at < p_to)),
    pay AS (
        SELECT p.method, sum (p.amount_cents) AS amount
          FROM sale_payments p JOIN s ON s.id = p.sale_id GROUP BY p.method),
    refund AS (
        SELECT x.method, sum (x.amount_cents) AS amount
          FROM r, jsonb_to_recordset (r.refunds) AS x (method text, amount_cents bigint)
         GROUP BY x.method),
    t AS (
        SELECT (SELECT count (*) FROM s) AS sales_count,
               (SELECT COALESCE (sum (subtotal_cents), 0) FROM s) AS gross,
               (SELECT COALESCE (sum (discount_cents), 0) FROM s) AS discounts,
               (SELECT COALESCE (sum (tax_cents), 0) FROM s) AS sales_tax,
               (SELECT COALESCE (sum (change_cents), 0) FROM s) AS change,
               (SELECT count (*) FROM r) AS returns_count,
               (SELECT COALESCE (sum (net_cents), 0) FROM r) AS returns_net,
               (SELECT COALESCE (sum (tax_cents), 0) FROM r) AS returns_tax,
               (SELECT COALESCE (sum (refund_cents), 0) FROM r) AS refunds,
               (SELECT COALESCE (sum (cash_refund_cents), 0) FROM r) AS cash_refunds)
    SELECT jsonb_build_object (
        'sales_count', sales_count,
        'gross_cents', gross,
        'discount_cents', discounts,
        'returns_count', returns_count,
        'returns_cents', returns_net,
        'refund_cents', refunds,
        'net_cents', gross - discounts - returns_net,
        'tax_cents', sales_tax - returns_tax,
        'total_cents', gross - discounts - returns_net + sales_tax - returns_tax,
        'payments', jsonb_build_object (
            'cash', COALESCE ((SELECT amount FROM pay WHERE method = 'cash'), 0),
            'credit_card', COALESCE ((SELECT amount FROM pay WHERE method = 'credit_card'), 0),
            'debit_card', COALESCE ((SELECT amount FROM pay WHERE method = 'debit_card'), 0),
            'mobile', COALESCE ((SELECT amount FROM pay WHERE method = 'mobile'), 0)),
        'change_cents', change,
        'refunds', jsonb_build_object (
            'cash', COALESCE ((SELECT amount FROM refund WHERE method = 'cash'), 0),
            'credit_card', COALESCE ((SELECT amount FROM refund WHERE method = 'credit_card'), 0),
            'debit_card', COALESCE ((SELECT amount FROM refund WHERE method = 'debit_card'), 0),
            'mobile', COALESCE ((SELECT amount FROM refund WHERE method = 'mobile'), 0)),
        'cash_refunds_cents', cash_refunds)
      FROM t;
$$;

--  The demo stores (the store_id of the demo staff accounts, the inventory
--  locations' store_id) and two registers each.
INSERT INTO stores (id, code, name, address, province) VALUES
    (1, 'S01', 'Montréal – Sainte-Catherine', '1200 rue Sainte-Catherine O, Montréal QC', 'QC'),
    (2, 'S02', 'Toronto – Queen West', '350 Queen St W, Toronto ON', 'ON'),
    (3, 'S03', 'Vancouver – Robson', '1045 Robson St, Vancouver BC', 'BC');
INSERT INTO registers (store_id, name)
SELECT s.id, 'Register ' || n FROM stores s CROSS JOIN generate_series (1, 2) AS n ORDER BY s.id, n;
