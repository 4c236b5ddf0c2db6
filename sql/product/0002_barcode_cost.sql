--  Comptoir product context: barcodes and unit costs, for the point of sale
--  and for valuing stock.
--
--  - barcode is the EAN-13 a till scans. The handlers check it and answer
--    400 (product_input_ean13); the CHECK here is the last line of defence,
--    so no path into the table stores a code a scanner could never read.
--    Unique when present. Like a SKU, it stays with its product when that
--    product is deleted: a code printed on old stock never finds another
--    product.
--  - cost_cents is what one unit costs the retailer, bigint cents, 0 when
--    not known. The sales context copies it into each sale line and the
--    reporting context values stock with it, both from product reads and
--    product.updated events, never from this database.

--  13 digits whose weighted sum (1, 3, 1, 3, ... from the left, the check
--  digit last with weight 1) is a multiple of 10. NULL for NULL.
CREATE FUNCTION product_ean13_valid (code text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN CASE WHEN code ~ '^[0-9]{13}$'
                THEN (SELECT sum (substr (code, i, 1)::integer * (CASE WHEN i % 2 = 0 THEN 3 ELSE 1 END))
                        FROM generate_series (1, 13) AS i) % 10 = 0
                ELSE false END;

ALTER TABLE products
    ADD COLUMN barcode text CONSTRAINT products_barcode_ean13 CHECK (product_ean13_valid (barcode)),
    ADD COLUMN cost_cents bigint NOT NULL DEFAULT 0
        CONSTRAINT products_cost_cents_range CHECK (cost_cents BETWEEN 0 AND 100000000000),
    ADD CONSTRAINT products_barcode_key UNIQUE (barcode);
