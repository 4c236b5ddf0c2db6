--  Comptoir inventory context: stock levels, the movement journal, transfers,
--  reservations and the outbox.
--
--  Why it is built this way:
--
--  - Stock is one row per (product, location). on_hand counts what is on the
--    shelf, reserved what is promised (a checkout in progress, an approved
--    transfer), available = on_hand - reserved is a generated column. The
--    CHECK constraints are the last line of defence: whatever the code and
--    the concurrency, on_hand, reserved and available never go below zero.
--  - Every change of stock goes through one function, inventory_change, which
--    updates the row with a conditional UPDATE (the condition is re-checked
--    by PostgreSQL on the newest row version when two transactions race),
--    writes the movement row when on_hand moves, and writes the outbox events,
--    all in the caller's transaction. When the change would take a level
--    below zero it returns no row and changes nothing: the caller answers
--    out_of_stock and rolls back.
--  - The movement journal records on_hand changes only (reserving moves no
--    goods), so for every (product, location) the sum of the deltas is
--    on_hand.
--  - Product ids are the catalog's ids; this database never reads the
--    catalog's tables. A stock row appears on the first receipt.
--  - Locations of type store carry store_id: the store_id claim of the staff
--    who work there (the seed sets store_id = id for the demo stores).

ALTER TABLE locations ADD COLUMN store_id bigint CHECK (store_id > 0);
ALTER TABLE locations ADD CONSTRAINT locations_store_id_key UNIQUE (store_id);
ALTER TABLE locations ADD CONSTRAINT locations_store_id_only_stores
    CHECK (store_id IS NULL OR type = 'store');

CREATE TABLE stock (
    product_id      bigint NOT NULL CHECK (product_id > 0),
    location_id     bigint NOT NULL REFERENCES locations (id),
    on_hand         integer NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    reserved        integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    available       integer GENERATED ALWAYS AS (on_hand - reserved) STORED,
    alert_threshold integer NOT NULL DEFAULT 5 CHECK (alert_threshold >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now (),
    PRIMARY KEY (product_id, location_id),
    CONSTRAINT stock_reserved_le_on_hand CHECK (reserved <= on_hand)
);
CREATE INDEX stock_location ON stock (location_id, product_id);
--  Alerts scan the rows at or below their threshold only.
CREATE INDEX stock_alerts ON stock (location_id, product_id) WHERE available <= alert_threshold;

CREATE TABLE movements (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id    bigint NOT NULL,
    location_id   bigint NOT NULL REFERENCES locations (id),
    cause         text NOT NULL CHECK (cause IN ('sale', 'return', 'order', 'order_cancel',
                                                 'transfer_out', 'transfer_in', 'adjustment')),
    reference     text NOT NULL CHECK (length (reference) BETWEEN 1 AND 200),
    delta         integer NOT NULL CHECK (delta <> 0),
    on_hand_after integer NOT NULL CHECK (on_hand_after >= 0),
    actor_sub     text,
    actor_role    text,
    created_at    timestamptz NOT NULL DEFAULT now ()
);
CREATE INDEX movements_product ON movements (product_id, location_id, id);
CREATE INDEX movements_location ON movements (location_id, id);

CREATE TABLE transfers (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id       bigint NOT NULL CHECK (product_id > 0),
    from_location_id bigint NOT NULL REFERENCES locations (id),
    to_location_id   bigint NOT NULL REFERENCES locations (id),
    quantity         integer NOT NULL CHECK (quantity > 0),
    status           text NOT NULL DEFAULT 'requested'
                     CHECK (status IN ('requested', 'approved', 'delivered', 'cancelled')),
    requested_by     text,
    idempotency_key  text,
    created_at       timestamptz NOT NULL DEFAULT now (),
    updated_at       timestamptz NOT NULL DEFAULT now (),
    CONSTRAINT transfers_two_places CHECK (from_location_id <> to_location_id)
);
CREATE INDEX transfers_from ON transfers (from_location_id, id);
CREATE INDEX transfers_to ON transfers (to_location_id, id);
CREATE INDEX transfers_status ON transfers (status, id);
--  A retried create with the same Idempotency-Key finds the first transfer.
CREATE UNIQUE INDEX transfers_idempotency ON transfers (requested_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

--  A reservation is named by its caller (the order context uses its order
--  reference), which makes reserve, commit and release idempotent: a retried
--  reserve finds the reservation instead of holding the stock twice.
CREATE TABLE reservations (
    id          text PRIMARY KEY CHECK (length (id) BETWEEN 1 AND 100),
    location_id bigint NOT NULL REFERENCES locations (id),
    reference   text NOT NULL CHECK (length (reference) BETWEEN 1 AND 200),
    status      text NOT NULL DEFAULT 'held'
                CHECK (status IN ('held', 'committed', 'released', 'expired', 'restocked')),
    expires_at  timestamptz NOT NULL,
    created_by  text,
    created_at  timestamptz NOT NULL DEFAULT now (),
    updated_at  timestamptz NOT NULL DEFAULT now ()
);
--  The sweep looks for held reservations past their time.
CREATE INDEX reservations_expiry ON reservations (expires_at) WHERE status = 'held';

CREATE TABLE reservation_lines (
    reservation_id text NOT NULL REFERENCES reservations (id),
    product_id     bigint NOT NULL CHECK (product_id > 0),
    quantity       integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, product_id)
);

--  The transactional outbox: events written with the change they announce;
--  a relay publishes them in seq order and sets published_at.
CREATE TABLE outbox (
    seq          bigserial PRIMARY KEY,
    topic        text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now (),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

--  Change one stock level by (on_hand_delta, reserved_delta), in the caller's
--  transaction. Returns the new levels and the movement id (NULL when on_hand
--  did not move), or no row when the change would break a constraint (not
--  enough stock, or no row to take from). cause is a movement cause when
--  on_hand moves, else a word for the event (reservation, release, expiry).
CREATE FUNCTION inventory_change (p_product bigint, p_location bigint,
                                  p_on_hand_delta integer, p_reserved_delta integer,
                                  p_cause text, p_reference text,
                                  p_actor_sub text, p_actor_role text)
RETURNS TABLE (new_on_hand integer, new_reserved integer, new_available integer,
               threshold integer, movement_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_on_hand   integer;
    v_reserved  integer;
    v_available integer;
    v_threshold integer;
    v_movement  bigint;
    v_before    integer;
BEGIN
    IF p_on_hand_delta > 0 AND p_reserved_delta = 0 THEN
        INSERT INTO stock (product_id, location_id) VALUES (p_product, p_location)
            ON CONFLICT DO NOTHING;
    END IF;
    UPDATE stock s
       SET on_hand = s.on_hand + p_on_hand_delta,
           reserved = s.reserved + p_reserved_delta,
           updated_at = now ()
     WHERE s.product_id = p_product AND s.location_id = p_location
       AND s.on_hand + p_on_hand_delta >= 0
       AND s.reserved + p_reserved_delta >= 0
       AND s.on_hand + p_on_hand_delta - (s.reserved + p_reserved_delta) >= 0
    RETURNING s.on_hand, s.reserved, s.available, s.alert_threshold
         INTO v_on_hand, v_reserved, v_available, v_threshold;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF p_on_hand_delta <> 0 THEN
        INSERT INTO movements (product_id, location_id, cause, reference, delta,
                               on_hand_after, actor_sub, actor_role)
        VALUES (p_product, p_location, p_cause, p_reference, p_on_hand_delta,
                v_on_hand, p_actor_sub, p_actor_role)
        RETURNING id INTO v_movement;
    END IF;
    INSERT INTO outbox (topic, payload) VALUES ('stock.changed', jsonb_build_object (
        'product_id', p_product, 'location_id', p_location, 'on_hand', v_on_hand,
        'reserved', v_reserved, 'available', v_available, 'cause', p_cause,
        'reference', p_reference));
    --  stock.low when the level gets worse: from ok to low or out, from low to out.
    v_before := v_available - (p_on_hand_delta - p_reserved_delta);
    IF v_available <= v_threshold
       AND (v_before > v_threshold OR (v_available = 0 AND v_before > 0)) THEN
        INSERT INTO outbox (topic, payload) VALUES ('stock.low', jsonb_build_object (
            'product_id', p_product, 'location_id', p_location, 'available', v_available,
            'alert_threshold', v_threshold,
            'level', CASE WHEN v_available = 0 THEN 'out' ELSE 'low' END));
    END IF;
    RETURN QUERY SELECT v_on_hand, v_reserved, v_available, v_threshold, v_movement;
END;
$$;
