--  Comptoir inventory context: stock.changed carries the row's alert threshold.
--
--  Why: the reporting context shows low stock on the dashboard from the
--  events alone. It knew a stock row's own threshold only from stock.low,
--  which comes when a level gets worse, so until then it fell back to the
--  catalog's and could disagree with GET /inventory/alerts. Every change of
--  a row now says the threshold it is judged by. The function is the one of
--  0002_stock.sql with that one key added to the stock.changed payload.

CREATE OR REPLACE FUNCTION inventory_change (p_product bigint, p_location bigint,
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
        'reserved', v_reserved, 'available', v_available, 'alert_threshold', v_threshold,
        'cause', p_cause, 'reference', p_reference));
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
