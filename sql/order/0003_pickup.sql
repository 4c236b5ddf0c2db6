--  The order context, 0003: click & collect (buy online, pick up in store).
--
--  Why: an order is either shipped (shipping_address) or picked up at a
--  store (pickup_store_id, the store_id staff tokens and the point of sale
--  use). A pickup order's stock is reserved at that store's location, so it
--  races the store's tills for the same units under the same rule; it pays
--  no shipping. The store is kept as given: the inventory context, which
--  owns the stores' locations, refused the checkout if it named none.

ALTER TABLE orders ADD COLUMN pickup_store_id bigint CHECK (pickup_store_id > 0);
ALTER TABLE orders ADD CONSTRAINT orders_pickup_not_shipped
    CHECK (pickup_store_id IS NULL OR shipping_cents = 0);
