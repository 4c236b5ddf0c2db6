--  Comptoir inventory context: stock taken and given back by the point of sale.
--
--  Why it is built this way:
--
--  - The sales context calls stock.sell, stock.sell_undo and stock.return
--    through the broker, and retries them when a reply is lost or a worker
--    dies. Each operation is named by its caller (the sale's or the return's
--    reference) and that name is the primary key: a retry finds the row the
--    first attempt wrote (or waits for it to commit) instead of moving the
--    goods twice. The lines taken are remembered, so a retry answers with
--    what was taken and an undo gives back exactly that.
--  - A sale and a return may share a reference string: kind is part of the key.
--  - An undo that comes before its sale (the sales context gave up waiting,
--    the sale is still queued) leaves a voided row with no lines: the late
--    sale then finds its reference voided and takes nothing.
--  - The goods move through inventory_change (0002_stock.sql), which writes
--    the movements and the stock.changed / stock.low events in the same
--    transaction.

CREATE TABLE pos_stock_ops (
    kind        text NOT NULL CHECK (kind IN ('sale', 'return')),
    ref         text NOT NULL CHECK (length (ref) BETWEEN 1 AND 100),
    status      text NOT NULL CHECK (status IN ('taken', 'voided', 'returned')),
    store_id    bigint CHECK (store_id > 0),
    location_id bigint REFERENCES locations (id),
    created_by  text,
    created_at  timestamptz NOT NULL DEFAULT now (),
    updated_at  timestamptz NOT NULL DEFAULT now (),
    PRIMARY KEY (kind, ref),
    CONSTRAINT pos_stock_ops_status_of_kind
        CHECK ((kind = 'sale' AND status IN ('taken', 'voided'))
            OR (kind = 'return' AND status = 'returned')),
    --  only an undo that came first leaves an operation without its place
    CONSTRAINT pos_stock_ops_placed
        CHECK (status = 'voided' OR (store_id IS NOT NULL AND location_id IS NOT NULL))
);

CREATE TABLE pos_stock_lines (
    kind       text NOT NULL,
    ref        text NOT NULL,
    product_id bigint NOT NULL CHECK (product_id > 0),
    quantity   integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (kind, ref, product_id),
    FOREIGN KEY (kind, ref) REFERENCES pos_stock_ops (kind, ref)
);
