--  Comptoir customer context: customers, their addresses, staff accounts and
--  the record of failed logins.
--
--  Emails and usernames compare case-insensitively: they are stored as the
--  person typed them (trimmed) and are unique on lower (...), which is also
--  how login finds them. Passwords are only ever stored as Argon2id hashes in
--  libsodium's encoded form, and the CHECK makes any other form (a plain
--  password, a fast hash) impossible to store by mistake.
--
--  A customer has at most one default address per type: a partial unique
--  index says so, so that the code that switches defaults (in one transaction)
--  cannot leave two behind, whatever runs at the same time.
--
--  Failed logins are counted here rather than in each worker's memory, so
--  that every worker of every instance agrees on a lockout.

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

CREATE TABLE customers (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text NOT NULL CHECK (length (email) BETWEEN 3 AND 254),
    password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    first_name    text NOT NULL CHECK (length (first_name) BETWEEN 1 AND 100),
    last_name     text NOT NULL CHECK (length (last_name) BETWEEN 1 AND 100),
    phone         text CHECK (length (phone) BETWEEN 1 AND 32),
    province      text NOT NULL DEFAULT 'QC'
                  CHECK (province IN ('QC', 'ON', 'NS', 'NB', 'NL', 'PE', 'BC', 'MB',
                                      'SK', 'AB', 'YT', 'NT', 'NU')),
    --  What the manager's lookup searches (substrings, through pg_trgm).
    search_text   text GENERATED ALWAYS AS
                  (lower (email || ' ' || first_name || ' ' || last_name)) STORED,
    created_at    timestamptz NOT NULL DEFAULT now (),
    updated_at    timestamptz NOT NULL DEFAULT now ()
);
CREATE UNIQUE INDEX customers_email_key ON customers (lower (email));
CREATE INDEX customers_search_trgm ON customers USING gin (search_text gin_trgm_ops);

CREATE TABLE addresses (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    type        text NOT NULL CHECK (type IN ('shipping', 'billing')),
    full_name   text NOT NULL CHECK (length (full_name) BETWEEN 1 AND 200),
    line1       text NOT NULL CHECK (length (line1) BETWEEN 1 AND 200),
    line2       text CHECK (length (line2) BETWEEN 1 AND 200),
    city        text NOT NULL CHECK (length (city) BETWEEN 1 AND 100),
    province    text NOT NULL
                CHECK (province IN ('QC', 'ON', 'NS', 'NB', 'NL', 'PE', 'BC', 'MB',
                                    'SK', 'AB', 'YT', 'NT', 'NU')),
    --  Canada Post's format, normalised: upper case, one space (H2X 1Y4).
    postal_code text NOT NULL
                CHECK (postal_code ~ '^[ABCEGHJ-NPRSTVXY][0-9][ABCEGHJ-NPRSTV-Z] [0-9][ABCEGHJ-NPRSTV-Z][0-9]$'),
    country     text NOT NULL DEFAULT 'CA' CHECK (country = 'CA'),
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now (),
    updated_at  timestamptz NOT NULL DEFAULT now ()
);
CREATE INDEX addresses_customer ON addresses (customer_id, id);
CREATE UNIQUE INDEX addresses_one_default ON addresses (customer_id, type) WHERE is_default;

CREATE TABLE staff (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    role          text NOT NULL CHECK (role IN ('cashier', 'manager', 'admin')),
    --  A location id of the inventory context (another database: no foreign key).
    store_id      bigint CHECK (store_id > 0),
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now (),
    updated_at    timestamptz NOT NULL DEFAULT now (),
    CHECK (role = 'admin' OR store_id IS NOT NULL)
);
CREATE UNIQUE INDEX staff_username_key ON staff (lower (username));

--  Login attempts per account name (lower-cased email or username, known or
--  not: a lockout must not reveal which accounts exist).
CREATE TABLE login_attempts (
    kind         text NOT NULL CHECK (kind IN ('customer', 'staff')),
    login        text NOT NULL CHECK (length (login) <= 320),
    attempts     integer NOT NULL DEFAULT 0,       --  in this window, successes excepted
    window_start timestamptz NOT NULL DEFAULT now (),
    locked_until timestamptz,
    PRIMARY KEY (kind, login)
);

--  Before a password is checked: count the attempt, or refuse it. Returns 0
--  when the attempt may go ahead (it is counted now, so that attempts that
--  arrive together cannot slip past the limit), else the number of seconds
--  to wait. The window restarts when it is over or when a lockout ended.
CREATE FUNCTION customer_login_attempt (p_kind text, p_login text, p_limit integer,
                                        p_window_s integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    r login_attempts%ROWTYPE;
BEGIN
    INSERT INTO login_attempts (kind, login) VALUES (p_kind, p_login)
        ON CONFLICT DO NOTHING;
    SELECT * INTO r FROM login_attempts
     WHERE kind = p_kind AND login = p_login FOR UPDATE;
    IF r.locked_until IS NOT NULL AND r.locked_until > clock_timestamp () THEN
        RETURN greatest (1, ceil (extract (epoch FROM r.locked_until - clock_timestamp ())))::integer;
    END IF;
    IF r.locked_until IS NOT NULL
       OR r.window_start <= clock_timestamp () - make_interval (secs => p_window_s) THEN
        r.attempts := 0;
        r.window_start := clock_timestamp ();
    END IF;
    IF r.attempts >= p_limit THEN
        --  every attempt of this window is used, some still being checked
        RETURN greatest (1, ceil (extract (epoch FROM r.window_start
                         + make_interval (secs => p_window_s) - clock_timestamp ())))::integer;
    END IF;
    UPDATE login_attempts
       SET attempts = r.attempts + 1, window_start = r.window_start, locked_until = NULL
     WHERE kind = p_kind AND login = p_login;
    RETURN 0;
END $$;

--  After a wrong password: lock the name when its window's attempts are used.
CREATE FUNCTION customer_login_failed (p_kind text, p_login text, p_limit integer,
                                       p_lock_s integer)
RETURNS void LANGUAGE sql AS $$
    UPDATE login_attempts
       SET locked_until = clock_timestamp () + make_interval (secs => p_lock_s)
     WHERE kind = p_kind AND login = p_login AND attempts >= p_limit
       AND (locked_until IS NULL OR locked_until <= clock_timestamp ());
$$;
