--  Comptoir product context: the catalog (categories and products).
--
--  Search has to find "Café" when a shopper types "cafe" and "mugs" when they
--  type "mug", in French and English names alike. So every product carries two
--  generated columns: search_tsv (a 'simple' tsvector over sku, name and
--  description, accents removed) for whole-word and prefix matches, and
--  search_text (name and description, unaccented and lower case) for substring
--  and trigram similarity matches through pg_trgm. Both have GIN indexes. The
--  SKU stays out of search_text: its short prefixes ("caf") would make every
--  product of a category look similar to "cafe".
--
--  Products are never deleted: DELETE sets active = false, because past orders
--  and sales refer to them. A SKU stays taken by its product for ever.
--  Money is bigint cents.

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public;

--  unaccent() is only STABLE (its dictionary could change); generated columns
--  and index expressions need an IMMUTABLE function, and we never change the
--  dictionary, so wrap it with the dictionary named explicitly.
CREATE FUNCTION product_unaccent (text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN public.unaccent ('public.unaccent'::regdictionary, $1);

--  The normal form that search compares: unaccented, lower case.
CREATE FUNCTION product_search_norm (text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN lower (product_unaccent ($1));

--  A prefix tsquery from what a shopper typed: every word must match the start
--  of a word ("cafe tas" -> 'cafe':* & 'tas':*). Words are cut at anything that
--  is not a letter or digit, so no tsquery syntax from the input survives.
--  NULL when the input holds no word.
CREATE FUNCTION product_search_query (text) RETURNS tsquery
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN (SELECT to_tsquery ('simple', string_agg (w || ':*', ' & '))
              FROM regexp_split_to_table (product_search_norm ($1), '[^[:alnum:]]+') AS w
             WHERE w <> '');

--  Escape LIKE wildcards in user text.
CREATE FUNCTION product_like_escape (text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN replace (replace (replace ($1, '\', '\\'), '%', '\%'), '_', '\_');

--  The SKU prefix of a new category: the first three letters of its name
--  ("Café et thé" -> CAF), or PRD when the name has fewer than two letters.
CREATE FUNCTION product_sku_prefix (text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN (SELECT CASE WHEN length (l) >= 2 THEN upper (left (l, 3)) ELSE 'PRD' END
              FROM regexp_replace (product_unaccent ($1), '[^A-Za-z]', '', 'g') AS l);

CREATE TABLE categories (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (length (name) BETWEEN 1 AND 100),
    description text CHECK (length (description) <= 2000),
    --  First letters of generated SKUs (CAF-000042); not part of the API.
    sku_prefix  text NOT NULL CHECK (sku_prefix ~ '^[A-Z]{2,4}$'),
    created_at  timestamptz NOT NULL DEFAULT now (),
    updated_at  timestamptz NOT NULL DEFAULT now ()
);
CREATE UNIQUE INDEX categories_name_key ON categories (lower (name));

--  Generated SKUs: <category prefix>-<6 digits>. Seed SKUs use 4 digits
--  (CAF-1001), so the two never collide; a collision with a SKU chosen by a
--  client is retried with the next number.
CREATE SEQUENCE product_sku_seq START 1;

CREATE FUNCTION product_next_sku (prefix text) RETURNS text
    LANGUAGE sql VOLATILE
    RETURN (SELECT prefix || '-' || CASE WHEN n < 1000000 THEN lpad (n::text, 6, '0') ELSE n::text END
              FROM nextval ('product_sku_seq') AS n);

CREATE TABLE products (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku             text NOT NULL CHECK (sku ~ '^[A-Z0-9][A-Z0-9._-]{0,63}$'),
    name            text NOT NULL CHECK (length (name) BETWEEN 1 AND 200),
    description     text CHECK (length (description) <= 5000),
    price_cents     bigint NOT NULL CHECK (price_cents > 0),
    --  SET NULL lets a category go once only inactive products remain in it;
    --  an active product always has a category.
    category_id     bigint REFERENCES categories (id) ON DELETE SET NULL,
    alert_threshold integer NOT NULL DEFAULT 5 CHECK (alert_threshold >= 0),
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now (),
    updated_at      timestamptz NOT NULL DEFAULT now (),
    search_text     text GENERATED ALWAYS AS (
                        product_search_norm (name || ' ' || coalesce (description, ''))
                    ) STORED,
    search_tsv      tsvector GENERATED ALWAYS AS (
                        setweight (to_tsvector ('simple', regexp_replace (lower (sku), '[^a-z0-9]+', ' ', 'g')), 'A')
                        || setweight (to_tsvector ('simple', product_search_norm (name)), 'A')
                        || setweight (to_tsvector ('simple', product_search_norm (coalesce (description, ''))), 'B')
                    ) STORED,
    CONSTRAINT products_sku_key UNIQUE (sku),
    CONSTRAINT products_active_has_category CHECK (NOT active OR category_id IS NOT NULL)
);
CREATE INDEX products_search_tsv_idx ON products USING gin (search_tsv);
CREATE INDEX products_search_trgm_idx ON products USING gin (search_text gin_trgm_ops);
CREATE INDEX products_category_idx ON products (category_id) WHERE active;
CREATE INDEX products_price_idx ON products (price_cents) WHERE active;
CREATE INDEX products_name_idx ON products (name) WHERE active;
