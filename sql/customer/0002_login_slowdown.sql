--  Comptoir customer context: failed logins are slowed before they are
--  refused (issue 3: "slowed and then refused for a while").
--
--  After the k-th failure of a window (k >= auth/slowdown_after) the name may
--  not try again for slowdown_base_s * 2^(k - slowdown_after) seconds (1 s,
--  2 s, 4 s ...); after lockout_failures failures the lockout of 0001 applies.
--  The wait is a time stored with the name, not a sleep: a worker never
--  waits, it answers 429 with the seconds left, and an attempt inside the
--  wait is neither checked nor counted. As in 0001 the row is locked (FOR
--  UPDATE) while an attempt is weighed, so that attempts arriving together
--  from several workers agree.

ALTER TABLE login_attempts
    ADD COLUMN failures    integer NOT NULL DEFAULT 0,   --  in this window, completed
    ADD COLUMN next_try_at timestamptz;                  --  no attempt before this

--  Before a password is checked: count the attempt, or refuse it. Returns 0
--  when the attempt may go ahead, else the number of seconds to wait (a
--  lockout, a slowdown, or every attempt of the window still being checked).
--  The window (and its failures and slowdown) restarts when it is over or
--  when a lockout ended.
CREATE OR REPLACE FUNCTION customer_login_attempt (p_kind text, p_login text, p_limit integer,
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
        r.failures := 0;
        r.next_try_at := NULL;
        r.window_start := clock_timestamp ();
    END IF;
    IF r.next_try_at IS NOT NULL AND r.next_try_at > clock_timestamp () THEN
        --  slowed down: not checked, not counted
        RETURN greatest (1, ceil (extract (epoch FROM r.next_try_at - clock_timestamp ())))::integer;
    END IF;
    IF r.attempts >= p_limit THEN
        --  every attempt of this window is used, some still being checked
        RETURN greatest (1, ceil (extract (epoch FROM r.window_start
                         + make_interval (secs => p_window_s) - clock_timestamp ())))::integer;
    END IF;
    UPDATE login_attempts
       SET attempts = r.attempts + 1, failures = r.failures, window_start = r.window_start,
           locked_until = NULL, next_try_at = r.next_try_at
     WHERE kind = p_kind AND login = p_login;
    RETURN 0;
END $$;

--  After a wrong password: count the failure, slow the name down from its
--  p_slow_after-th failure (p_slow_base_s, doubling; the exponent is capped
--  so that the interval cannot overflow), and lock it when its window's
--  attempts are used. (Replaces 0001's four-argument form, which knew no
--  slowdown: one way to record a failure.)
DROP FUNCTION customer_login_failed (text, text, integer, integer);
CREATE FUNCTION customer_login_failed (p_kind text, p_login text, p_limit integer,
                                       p_lock_s integer, p_slow_after integer,
                                       p_slow_base_s integer)
RETURNS void LANGUAGE sql AS $$
    UPDATE login_attempts
       SET failures = failures + 1,
           next_try_at = CASE WHEN failures + 1 >= p_slow_after
                              THEN clock_timestamp () + make_interval (secs => p_slow_base_s
                                   * power (2, least (failures + 1 - p_slow_after, 20)))
                              ELSE next_try_at END,
           locked_until = CASE WHEN attempts >= p_limit
                                AND (locked_until IS NULL OR locked_until <= clock_timestamp ())
                               THEN clock_timestamp () + make_interval (secs => p_lock_s)
                               ELSE locked_until END
     WHERE kind = p_kind AND login = p_login;
$$;
