--  The reporting context's schema: read models fed only by events (order,
--  sales, inventory, product), and the cursor of each producer.
--
--  Why it is built this way:
--
--  - One function, reporting_apply, applies one event: it moves the
--    producer's cursor and changes the read models in the same transaction
--    (the single statement that calls it), so a figure and the cursor that
--    says "this event is in" can never disagree. The cursor row is locked
--    and must satisfy prev <= last_seq < seq: a second reporting process,
--    or a process that still believes an older cursor (after a rebuild),
--    never applies an event twice nor out of line.
--  - A malformed payload (a field missing, of the wrong type or out of
--    range) is dropped: the changes it began are rolled back to a
--    savepoint (the EXCEPTION block), the cursor moves past it, and the
--    caller logs it. A database failure is not a malformed event: it
--    raises, nothing moves, and the event is offered again.
--  - Figures are kept ready to read, per UTC day: daily_channel_store
--    (day x channel x store: a handful of rows a day) answers the
--    dashboard's totals and the sales report by day, store and channel;
--    daily_product (day x channel x store x product) answers top products
--    and the report by product, daily_product_total (day x product) the
--    dashboard's top products. Reading a period costs O(days in it),
--    never the length of the history.
--  - A cancelled order is taken off the day it was confirmed, with the
--    exact amounts that were added (web_orders, web_order_items keep
--    them); a return is taken off the day of the return, as the contract
--    says. Each order, sale and return is counted once even if a producer
--    announced it twice under two seqs (their primary keys).
--  - Web orders carry no per-line tax: the order's tax is spread over its
--    lines in proportion to their totals (the remainder on the last line),
--    so the report by product adds up to the report by day to the cent.
--  - A rebuild must give the same figures, yet it replays the producers in
--    another interleaving than the live stream had (all of order, then all
--    of product...). So nothing stored depends on the order between
--    producers: the cost of a web order's goods (orders carry none) is not
--    stored but read at report time as the catalog's cost in effect at the
--    end of the order's UTC day (product_costs, by the day of each
--    product.updated's `at`; before the first one, the first known cost);
--    stock_history keeps each stock row's on_hand at the end of each day it
--    moved, and the stock's value on a past day is valued at report time
--    with the cost of that day. Within one producer the order is the seq
--    order, the same live and in a replay.
--  - Locations (names, store ids) are not events: the context reads them
--    from inventory's location.list through the broker, and a rebuild
--    keeps them.

CREATE TABLE feed_cursors (
    producer   text PRIMARY KEY CHECK (producer IN ('order', 'sales', 'inventory', 'product')),
    last_seq   bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    applied    bigint NOT NULL DEFAULT 0,
    dropped    bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now ()
);

CREATE TABLE locations (
    location_id bigint PRIMARY KEY CHECK (location_id > 0),
    name        text NOT NULL,
    type        text NOT NULL,
    store_id    bigint,
    updated_at  timestamptz NOT NULL DEFAULT now ()
);
CREATE UNIQUE INDEX locations_store ON locations (store_id) WHERE store_id IS NOT NULL;

CREATE TABLE products (
    product_id      bigint PRIMARY KEY CHECK (product_id > 0),
    sku             text,
    name            text,
    price_cents     bigint,
    cost_cents      bigint NOT NULL DEFAULT 0 CHECK (cost_cents >= 0),
    alert_threshold integer CHECK (alert_threshold >= 0),
    active          boolean,
    from_catalog    boolean NOT NULL DEFAULT false      --  a product.updated was applied
);

CREATE TABLE stock (
    product_id      bigint NOT NULL CHECK (product_id > 0),
    location_id     bigint NOT NULL CHECK (location_id > 0),
    on_hand         integer NOT NULL CHECK (on_hand >= 0),
    reserved        integer NOT NULL CHECK (reserved >= 0),
    available       integer NOT NULL CHECK (available >= 0),
    alert_threshold integer CHECK (alert_threshold >= 0),   --  the stock row's own (stock.low; stock.changed from 0002)
    PRIMARY KEY (product_id, location_id)
);

--  on_hand at the end of each day it moved (the day of the event's publication).
CREATE TABLE stock_history (
    product_id  bigint NOT NULL,
    location_id bigint NOT NULL,
    day         date NOT NULL,
    on_hand     integer NOT NULL,
    PRIMARY KEY (product_id, location_id, day)
);

--  The catalog's cost at the end of each day it changed (product.updated's at).
CREATE TABLE product_costs (
    product_id  bigint NOT NULL,
    day         date NOT NULL,
    cost_cents  bigint NOT NULL,
    PRIMARY KEY (product_id, day)
);

CREATE TABLE web_orders (
    order_id       bigint PRIMARY KEY,
    number         text NOT NULL,
    day            date NOT NULL,
    subtotal_cents bigint NOT NULL,
    tax_cents      bigint NOT NULL,
    quantity       bigint NOT NULL,
    status         text NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
    cancelled_day  date
);

CREATE TABLE web_order_items (
    order_id      bigint NOT NULL REFERENCES web_orders (order_id),
    product_id    bigint NOT NULL,
    quantity      bigint NOT NULL,
    revenue_cents bigint NOT NULL,
    tax_cents     bigint NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

CREATE TABLE store_sales (
    sale_id        bigint PRIMARY KEY,
    receipt_number text NOT NULL,
    store_id       bigint NOT NULL,
    day            date NOT NULL,
    revenue_cents  bigint NOT NULL,
    tax_cents      bigint NOT NULL
);

CREATE TABLE store_returns (
    return_id     bigint PRIMARY KEY,
    sale_id       bigint NOT NULL,
    store_id      bigint NOT NULL,
    day           date NOT NULL,
    revenue_cents bigint NOT NULL,
    tax_cents     bigint NOT NULL
);

--  channel 'web' has store_id 0; count = orders (web) or sales (store)
--  net of cancellations; returns move amounts, not the count.
CREATE TABLE daily_channel_store (
    day           date NOT NULL,
    channel       text NOT NULL CHECK (channel IN ('web', 'store')),
    store_id      bigint NOT NULL CHECK (store_id >= 0),
    count         bigint NOT NULL DEFAULT 0,
    quantity      bigint NOT NULL DEFAULT 0,
    revenue_cents bigint NOT NULL DEFAULT 0,
    tax_cents     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, channel, store_id)
);

--  count = orders or sales that had the product; cost_cents = cost of the
--  goods sold in store (the sale's unit cost); 0 on web rows, whose cost
--  is read with reporting_cost_on at report time.
CREATE TABLE daily_product (
    day           date NOT NULL,
    channel       text NOT NULL CHECK (channel IN ('web', 'store')),
    store_id      bigint NOT NULL CHECK (store_id >= 0),
    product_id    bigint NOT NULL,
    count         bigint NOT NULL DEFAULT 0,
    quantity      bigint NOT NULL DEFAULT 0,
    revenue_cents bigint NOT NULL DEFAULT 0,
    tax_cents     bigint NOT NULL DEFAULT 0,
    cost_cents    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, channel, store_id, product_id)
);

--  The same per day and product only, both channels and every store
--  together: the dashboard's top products read 7 days x the products sold,
--  a third or less of daily_product's rows for those days.
CREATE TABLE daily_product_total (
    day           date NOT NULL,
    product_id    bigint NOT NULL,
    count         bigint NOT NULL DEFAULT 0,
    quantity      bigint NOT NULL DEFAULT 0,
    revenue_cents bigint NOT NULL DEFAULT 0,
    tax_cents     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, product_id)
);

--  ==========================================================================
--  Reading a payload: every accessor raises 22023 (a data_exception, which
--  reporting_apply turns into "dropped") when the field is not what the
--  contract says.

CREATE FUNCTION reporting_bad (p_what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = p_what;
END;
$$;

CREATE FUNCTION reporting_int (p jsonb, p_key text, p_min bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v jsonb := p -> p_key;
    n numeric;
BEGIN
    IF v IS NULL OR jsonb_typeof (v) <> 'number' THEN
        PERFORM reporting_bad (p_key || ' must be an integer');
    END IF;
    n := v::numeric;
    IF n <> trunc (n) OR n < p_min OR n > 9007199254740991 THEN
        PERFORM reporting_bad (p_key || ' is out of range');
    END IF;
    RETURN n::bigint;
END;
$$;

CREATE FUNCTION reporting_text (p jsonb, p_key text, p_nullable boolean) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v jsonb := p -> p_key;
BEGIN
    IF p_nullable AND (v IS NULL OR jsonb_typeof (v) = 'null') THEN
        RETURN NULL;
    END IF;
    IF v IS NULL OR jsonb_typeof (v) <> 'string' OR length (v #>> '{}') > 200 THEN
        PERFORM reporting_bad (p_key || ' must be a string of at most 200 characters');
    END IF;
    RETURN v #>> '{}';
END;
$$;

CREATE FUNCTION reporting_array (p jsonb, p_key text) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF jsonb_typeof (p -> p_key) IS DISTINCT FROM 'array' THEN
        PERFORM reporting_bad (p_key || ' must be an array');
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_array_elements (p -> p_key) AS e
                WHERE jsonb_typeof (e) <> 'object') THEN
        PERFORM reporting_bad (p_key || ' must hold objects');
    END IF;
    RETURN p -> p_key;
END;
$$;

--  The UTC day of an RFC 3339 time ("2026-11-25T17:22:39Z").
CREATE FUNCTION reporting_day (p jsonb, p_key text) RETURNS date
LANGUAGE plpgsql AS $$
DECLARE
    v text := reporting_text (p, p_key, false);
BEGIN
    IF v !~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$' THEN
        PERFORM reporting_bad (p_key || ' must be an RFC 3339 time');
    END IF;
    RETURN (v::timestamptz AT TIME ZONE 'UTC')::date;
END;
$$;

--  ==========================================================================
--  The facts, added to (or taken from) their day's rows

CREATE FUNCTION reporting_add_store (p_day date, p_channel text, p_store bigint, p_count bigint,
                                     p_quantity bigint, p_revenue bigint, p_tax bigint)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO daily_channel_store AS f (day, channel, store_id, count, quantity, revenue_cents, tax_cents)
    VALUES (p_day, p_channel, p_store, p_count, p_quantity, p_revenue, p_tax)
    ON CONFLICT (day, channel, store_id) DO UPDATE
       SET count = f.count + EXCLUDED.count, quantity = f.quantity + EXCLUDED.quantity,
           revenue_cents = f.revenue_cents + EXCLUDED.revenue_cents,
           tax_cents = f.tax_cents + EXCLUDED.tax_cents;
$$;

CREATE FUNCTION reporting_add_product (p_day date, p_channel text, p_store bigint, p_product bigint,
                                       p_count bigint, p_quantity bigint, p_revenue bigint,
                                       p_tax bigint, p_cost bigint)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO daily_product AS f (day, channel, store_id, product_id, count, quantity,
                                    revenue_cents, tax_cents, cost_cents)
    VALUES (p_day, p_channel, p_store, p_product, p_count, p_quantity, p_revenue, p_tax, p_cost)
    ON CONFLICT (day, channel, store_id, product_id) DO UPDATE
       SET count = f.count + EXCLUDED.count, quantity = f.quantity + EXCLUDED.quantity,
           revenue_cents = f.revenue_cents + EXCLUDED.revenue_cents,
           tax_cents = f.tax_cents + EXCLUDED.tax_cents,
           cost_cents = f.cost_cents + EXCLUDED.cost_cents;
    INSERT INTO daily_product_total AS t (day, product_id, count, quantity, revenue_cents, tax_cents)
    VALUES (p_day, p_product, p_count, p_quantity, p_revenue, p_tax)
    ON CONFLICT (day, product_id) DO UPDATE
       SET count = t.count + EXCLUDED.count, quantity = t.quantity + EXCLUDED.quantity,
           revenue_cents = t.revenue_cents + EXCLUDED.revenue_cents,
           tax_cents = t.tax_cents + EXCLUDED.tax_cents;
$$;

--  The catalog's cost of a product at the end of a day: the last change
--  on or before it, else the first known cost, else 0.
CREATE FUNCTION reporting_cost_on (p_product bigint, p_day date) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT COALESCE (
        (SELECT cost_cents FROM product_costs WHERE product_id = p_product AND day <= p_day
          ORDER BY day DESC LIMIT 1),
        (SELECT cost_cents FROM product_costs WHERE product_id = p_product ORDER BY day LIMIT 1),
        0);
$$;

--  ==========================================================================
--  One function per topic

CREATE FUNCTION reporting_order_confirmed (p jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_order    bigint := reporting_int (p, 'order_id', 1);
    v_number   text := reporting_text (p, 'number', false);
    v_day      date := reporting_day (p, 'at');
    v_subtotal bigint := reporting_int (p, 'subtotal_cents', 0);
    v_tax      bigint := reporting_int (p, 'tax_cents', 0);
    v_items    jsonb := reporting_array (p, 'items');
    v_lines    integer;
    v_line     integer := 0;
    v_spread   bigint := 0;
    v_share    bigint;
    v_quantity bigint := 0;
    r          record;
BEGIN
    INSERT INTO web_orders (order_id, number, day, subtotal_cents, tax_cents, quantity, status)
    VALUES (v_order, v_number, v_day, v_subtotal, v_tax, 0, 'confirmed')
    ON CONFLICT (order_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN;                 --  announced again under another seq: counted once
    END IF;
    SELECT count (DISTINCT reporting_int (i, 'product_id', 1)) INTO v_lines
      FROM jsonb_array_elements (v_items) AS i;
    FOR r IN SELECT reporting_int (i, 'product_id', 1) AS product_id,
                    sum (reporting_int (i, 'quantity', 1))::bigint AS quantity,
                    sum (reporting_int (i, 'line_total_cents', 0))::bigint AS revenue
               FROM jsonb_array_elements (v_items) AS i
              GROUP BY 1 ORDER BY 1
    LOOP
        v_line := v_line + 1;
        v_share := CASE WHEN v_line = v_lines THEN v_tax - v_spread
                        WHEN v_subtotal > 0 THEN (v_tax * r.revenue) / v_subtotal
                        ELSE 0 END;
        IF v_share < 0 THEN
            PERFORM reporting_bad ('line totals exceed subtotal_cents');
        END IF;
        v_spread := v_spread + v_share;
        v_quantity := v_quantity + r.quantity;
        INSERT INTO web_order_items (order_id, product_id, quantity, revenue_cents, tax_cents)
        VALUES (v_order, r.product_id, r.quantity, r.revenue, v_share);
        PERFORM reporting_add_product (v_day, 'web', 0, r.product_id, 1, r.quantity, r.revenue, v_share, 0);
    END LOOP;
    UPDATE web_orders SET quantity = v_quantity WHERE order_id = v_order;
    PERFORM reporting_add_store (v_day, 'web', 0, 1, v_quantity, v_subtotal, v_tax);
END;
$$;

--  Taken off the day it was confirmed, with what was added then. An order
--  cancelled before it was confirmed (a declined payment) counted nowhere.
CREATE FUNCTION reporting_order_cancelled (p jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_order bigint := reporting_int (p, 'order_id', 1);
    v_day   date := reporting_day (p, 'at');
    o       web_orders;
    r       record;
BEGIN
    UPDATE web_orders SET status = 'cancelled', cancelled_day = v_day
     WHERE order_id = v_order AND status = 'confirmed'
    RETURNING * INTO o;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    FOR r IN SELECT * FROM web_order_items WHERE order_id = v_order ORDER BY product_id LOOP
        PERFORM reporting_add_product (o.day, 'web', 0, r.product_id, -1, -r.quantity, -r.revenue_cents,
                                       -r.tax_cents, 0);
    END LOOP;
    PERFORM reporting_add_store (o.day, 'web', 0, -1, -o.quantity, -o.subtotal_cents, -o.tax_cents);
END;
$$;

--  The lines of a sale or a return, one per product: quantity, net (the
--  revenue), tax and cost of the goods (quantity x unit cost). A sale's
--  lines are named (name, sku required), a return's are not.
CREATE FUNCTION reporting_store_lines (p_items jsonb, p_named boolean)
RETURNS TABLE (product_id bigint, name text, sku text, quantity bigint, revenue bigint,
               tax bigint, cost bigint)
LANGUAGE sql AS $$
    SELECT reporting_int (i, 'product_id', 1),
           max (reporting_text (i, 'name', NOT p_named)), max (reporting_text (i, 'sku', NOT p_named)),
           sum (reporting_int (i, 'quantity', 1))::bigint,
           sum (reporting_int (i, 'net_cents', 0))::bigint,
           sum (reporting_int (i, 'tax_cents', 0))::bigint,
           sum (reporting_int (i, 'quantity', 1) * reporting_int (i, 'cost_cents', 0))::bigint
      FROM jsonb_array_elements (p_items) AS i
     GROUP BY 1 ORDER BY 1;
$$;

CREATE FUNCTION reporting_sale_completed (p jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_sale     bigint := reporting_int (p, 'sale_id', 1);
    v_receipt  text := reporting_text (p, 'receipt_number', false);
    v_store    bigint := reporting_int (p, 'store_id', 1);
    v_day      date := reporting_day (p, 'at');
    v_tax      bigint := reporting_int (p, 'tax_cents', 0);
    v_items    jsonb := reporting_array (p, 'items');
    v_quantity bigint := 0;
    v_revenue  bigint := 0;
    r          record;
BEGIN
    INSERT INTO store_sales (sale_id, receipt_number, store_id, day, revenue_cents, tax_cents)
    VALUES (v_sale, v_receipt, v_store, v_day, 0, v_tax)
    ON CONFLICT (sale_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    FOR r IN SELECT * FROM reporting_store_lines (v_items, true) LOOP
        v_quantity := v_quantity + r.quantity;
        v_revenue := v_revenue + r.revenue;
        INSERT INTO products AS t (product_id, sku, name) VALUES (r.product_id, r.sku, r.name)
        ON CONFLICT (product_id) DO UPDATE
           SET name = CASE WHEN t.from_catalog THEN t.name ELSE EXCLUDED.name END,
               sku = CASE WHEN t.from_catalog THEN t.sku ELSE EXCLUDED.sku END;
        PERFORM reporting_add_product (v_day, 'store', v_store, r.product_id, 1, r.quantity, r.revenue,
                                       r.tax, r.cost);
    END LOOP;
    UPDATE store_sales SET revenue_cents = v_revenue WHERE sale_id = v_sale;
    PERFORM reporting_add_store (v_day, 'store', v_store, 1, v_quantity, v_revenue, v_tax);
END;
$$;

--  Taken off the day of the return; the sale still counts as a sale. The
--  items' cost_cents is a unit cost, as in sale.completed.
CREATE FUNCTION reporting_sale_returned (p jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_return   bigint := reporting_int (p, 'return_id', 1);
    v_sale     bigint := reporting_int (p, 'sale_id', 1);
    v_store    bigint := reporting_int (p, 'store_id', 1);
    v_day      date := reporting_day (p, 'at');
    v_tax      bigint := reporting_int (p, 'tax_cents', 0);
    v_items    jsonb := reporting_array (p, 'items');
    v_quantity bigint := 0;
    v_revenue  bigint := 0;
    r          record;
BEGIN
    INSERT INTO store_returns (return_id, sale_id, store_id, day, revenue_cents, tax_cents)
    VALUES (v_return, v_sale, v_store, v_day, 0, v_tax)
    ON CONFLICT (return_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    FOR r IN SELECT * FROM reporting_store_lines (v_items, false) LOOP
        v_quantity := v_quantity + r.quantity;
        v_revenue := v_revenue + r.revenue;
        PERFORM reporting_add_product (v_day, 'store', v_store, r.product_id, 0, -r.quantity, -r.revenue,
                                       -r.tax, -r.cost);
    END LOOP;
    UPDATE store_returns SET revenue_cents = v_revenue WHERE return_id = v_return;
    PERFORM reporting_add_store (v_day, 'store', v_store, 0, -v_quantity, -v_revenue, -v_tax);
END;
$$;

CREATE FUNCTION reporting_stock_changed (p jsonb, p_day date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_product   bigint := reporting_int (p, 'product_id', 1);
    v_location  bigint := reporting_int (p, 'location_id', 1);
    v_on_hand   bigint := reporting_int (p, 'on_hand', 0);
    v_reserved  bigint := reporting_int (p, 'reserved', 0);
    v_available bigint := reporting_int (p, 'available', 0);
BEGIN
    INSERT INTO stock AS s (product_id, location_id, on_hand, reserved, available)
    VALUES (v_product, v_location, v_on_hand, v_reserved, v_available)
    ON CONFLICT (product_id, location_id) DO UPDATE
       SET on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved, available = EXCLUDED.available;
    INSERT INTO stock_history AS h (product_id, location_id, day, on_hand)
    VALUES (v_product, v_location, p_day, v_on_hand)
    ON CONFLICT (product_id, location_id, day) DO UPDATE SET on_hand = EXCLUDED.on_hand;
END;
$$;

CREATE FUNCTION reporting_stock_low (p jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_product   bigint := reporting_int (p, 'product_id', 1);
    v_location  bigint := reporting_int (p, 'location_id', 1);
    v_threshold bigint := reporting_int (p, 'alert_threshold', 0);
BEGIN
    PERFORM reporting_int (p, 'available', 0);
    UPDATE stock SET alert_threshold = v_threshold
     WHERE product_id = v_product AND location_id = v_location;
END;
$$;

CREATE FUNCTION reporting_product_updated (p jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_product bigint := reporting_int (p, 'product_id', 1);
    v_cost    bigint := reporting_int (p, 'cost_cents', 0);
    v_day     date := reporting_day (p, 'at');
BEGIN
    IF jsonb_typeof (p -> 'active') IS DISTINCT FROM 'boolean' THEN
        PERFORM reporting_bad ('active must be a boolean');
    END IF;
    INSERT INTO products AS t (product_id, sku, name, price_cents, cost_cents, alert_threshold,
                               active, from_catalog)
    VALUES (v_product, reporting_text (p, 'sku', false), reporting_text (p, 'name', false),
            reporting_int (p, 'price_cents', 0), v_cost, reporting_int (p, 'alert_threshold', 0),
            (p ->> 'active')::boolean, true)
    ON CONFLICT (product_id) DO UPDATE
       SET sku = EXCLUDED.sku, name = EXCLUDED.name, price_cents = EXCLUDED.price_cents,
           cost_cents = EXCLUDED.cost_cents, alert_threshold = EXCLUDED.alert_threshold,
           active = EXCLUDED.active, from_catalog = true;
    INSERT INTO product_costs AS c (product_id, day, cost_cents) VALUES (v_product, v_day, v_cost)
    ON CONFLICT (product_id, day) DO UPDATE SET cost_cents = EXCLUDED.cost_cents;
END;
$$;

--  ==========================================================================
--  Apply one event of producer. Returns 'applied', 'duplicate' (seq is
--  in already), 'behind' (the cursor is before prev: replay first; nothing
--  changed), 'ignored' (a topic reporting does not use; the cursor moved)
--  or 'dropped: <why>' (malformed; the cursor moved, nothing else).

CREATE FUNCTION reporting_apply (p_producer text, p_seq bigint, p_prev bigint, p_topic text,
                                 p_payload jsonb, p_at timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_last    bigint;
    v_day     date := (p_at AT TIME ZONE 'UTC')::date;
    v_outcome text := 'applied';
BEGIN
    INSERT INTO feed_cursors (producer) VALUES (p_producer) ON CONFLICT DO NOTHING;
    SELECT last_seq INTO v_last FROM feed_cursors WHERE producer = p_producer FOR UPDATE;
    IF v_last >= p_seq THEN
        RETURN 'duplicate';
    END IF;
    IF v_last < p_prev THEN
        RETURN 'behind';
    END IF;
    BEGIN
        IF jsonb_typeof (p_payload) IS DISTINCT FROM 'object' THEN
            PERFORM reporting_bad ('the payload must be an object');
        END IF;
        CASE p_producer || ' ' || p_topic
            WHEN 'order order.confirmed' THEN PERFORM reporting_order_confirmed (p_payload);
            WHEN 'order order.cancelled' THEN PERFORM reporting_order_cancelled (p_payload);
            WHEN 'sales sale.completed' THEN PERFORM reporting_sale_completed (p_payload);
            WHEN 'sales sale.returned' THEN PERFORM reporting_sale_returned (p_payload);
            WHEN 'inventory stock.changed' THEN PERFORM reporting_stock_changed (p_payload, v_day);
            WHEN 'inventory stock.low' THEN PERFORM reporting_stock_low (p_payload);
            WHEN 'product product.updated' THEN PERFORM reporting_product_updated (p_payload);
            ELSE v_outcome := 'ignored';
        END CASE;
    EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
        UPDATE feed_cursors SET last_seq = p_seq, dropped = dropped + 1, updated_at = now ()
         WHERE producer = p_producer;
        RETURN 'dropped: ' || SQLERRM;
    END;
    UPDATE feed_cursors
       SET last_seq = p_seq, applied = applied + 1, updated_at = now ()
     WHERE producer = p_producer;
    RETURN v_outcome;
END;
$$;

--  An event whose payload PostgreSQL cannot even take as jsonb (a \u0000
--  in a string): the cursor moves past it, nothing else. Same answers as
--  reporting_apply.
CREATE FUNCTION reporting_drop (p_producer text, p_seq bigint, p_prev bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_last bigint;
BEGIN
    INSERT INTO feed_cursors (producer) VALUES (p_producer) ON CONFLICT DO NOTHING;
    SELECT last_seq INTO v_last FROM feed_cursors WHERE producer = p_producer FOR UPDATE;
    IF v_last >= p_seq THEN
        RETURN 'duplicate';
    END IF;
    IF v_last < p_prev THEN
        RETURN 'behind';
    END IF;
    UPDATE feed_cursors SET last_seq = p_seq, dropped = dropped + 1, updated_at = now ()
     WHERE producer = p_producer;
    RETURN 'dropped: the payload is not valid jsonb';
END;
$$;

--  Everything built from events goes; locations stay (they are not events).
CREATE FUNCTION reporting_rebuild () RETURNS void LANGUAGE sql AS $$
    TRUNCATE feed_cursors, products, stock, stock_history, product_costs, web_order_items,
             web_orders, store_sales, store_returns, daily_channel_store, daily_product,
             daily_product_total;
$$;
