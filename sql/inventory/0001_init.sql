--  Comptoir inventory context: the places that hold stock.
--
--  A location is a store (the point of sale takes stock there), a warehouse,
--  or the web channel's fulfilment location (checkout reserves stock there).
--  Stores carry their province because sales taxes follow it. Locations are
--  deactivated, never deleted: movements and sales keep pointing at them.
--  Stock levels and the movement journal come in a later migration.

CREATE TABLE locations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL CHECK (length (name) BETWEEN 1 AND 100),
    type       text NOT NULL CHECK (type IN ('store', 'warehouse', 'web')),
    province   text NOT NULL CHECK (province IN ('QC', 'ON', 'NS', 'NB', 'NL', 'PE', 'BC',
                                                 'MB', 'SK', 'AB', 'YT', 'NT', 'NU')),
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now (),
    CONSTRAINT locations_name_key UNIQUE (name)
);

--  Checkout looks for "the" web location: at most one may be active.
CREATE UNIQUE INDEX locations_one_active_web ON locations (type) WHERE type = 'web' AND active;
