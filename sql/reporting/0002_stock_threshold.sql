--  Comptoir reporting context: a stock row's threshold from stock.changed.
--
--  Why: inventory's stock.changed now carries the row's own alert threshold
--  (sql/inventory/0004_stock_changed_threshold.sql), so the dashboard's low
--  stock is judged exactly as GET /inventory/alerts judges it, from the first
--  change of a row on. Events published before that carry no threshold: the
--  row keeps what it had (the last stock.low's, else the catalog's at report
--  time), as before. A threshold that is there but not a whole number >= 0
--  drops the event, as every malformed field does.

CREATE OR REPLACE FUNCTION reporting_stock_changed (p jsonb, p_day date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_product   bigint := reporting_int (p, 'product_id', 1);
    v_location  bigint := reporting_int (p, 'location_id', 1);
    v_on_hand   bigint := reporting_int (p, 'on_hand', 0);
    v_reserved  bigint := reporting_int (p, 'reserved', 0);
    v_available bigint := reporting_int (p, 'available', 0);
    v_threshold bigint := CASE WHEN p ? 'alert_threshold'
                               THEN reporting_int (p, 'alert_threshold', 0) END;
BEGIN
    INSERT INTO stock AS s (product_id, location_id, on_hand, reserved, available, alert_threshold)
    VALUES (v_product, v_location, v_on_hand, v_reserved, v_available, v_threshold)
    ON CONFLICT (product_id, location_id) DO UPDATE
       SET on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved, available = EXCLUDED.available,
           alert_threshold = COALESCE (EXCLUDED.alert_threshold, s.alert_threshold);
    INSERT INTO stock_history AS h (product_id, location_id, day, on_hand)
    VALUES (v_product, v_location, p_day, v_on_hand)
    ON CONFLICT (product_id, location_id, day) DO UPDATE SET on_hand = EXCLUDED.on_hand;
END;
$$;
