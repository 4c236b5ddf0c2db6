#!/usr/bin/env python3
"""Comptoir - synthetic history in the reporting read models (issue 8), for
`bench/run.sh dashboard`.

    bench/dashboard.py load DAYS    loads DAYS days of history, prints the
                                    rows of daily_product then
    bench/dashboard.py clean        removes the synthetic rows

Against the running test environment (COMPTOIR_TEST_PG_ADMIN), through
psql: rows of three synthetic stores (91, 92, 93) and 333 synthetic
products (ids from 1,000,000) a day, the days [today - DAYS, today - 1]
(those not loaded yet; then VACUUM (ANALYZE), as autovacuum would): 10 days are 9,990 daily_product rows,
1,000 days 999,000. Each day has the same rows, so the dashboard's windows
(7 and 14 days) hold the same work whatever the length of history.
"""

import os
import subprocess
import sys


STORES = (91, 92, 93)
PRODUCTS = 333
FIRST_PRODUCT = 1000000


def conninfo(database):
    return os.environ["COMPTOIR_TEST_PG_ADMIN"].replace("dbname=postgres", "dbname=" + database)


def psql(sql):
    out = subprocess.run(["psql", conninfo("comptoir_reporting"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                          "-Atc", sql], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit("psql failed: " + out.stderr.strip())
    return out.stdout.strip()


def clean():
    psql("DELETE FROM daily_product_total WHERE product_id >= %d;" % FIRST_PRODUCT +
         "DELETE FROM daily_product WHERE store_id IN (91, 92, 93);"
         "DELETE FROM daily_channel_store WHERE store_id IN (91, 92, 93)")


def load(days):
    """Synthetic days [today - days, today - 1] (those not loaded yet)."""
    psql("""
        INSERT INTO daily_product (day, channel, store_id, product_id, count, quantity, revenue_cents,
                                   tax_cents, cost_cents)
        SELECT d::date, 'store', s, p, 1 + (p %% 3), 2 + (p %% 5), 1000 + (p %% 97) * 37,
               150 + (p %% 11), 500 + (p %% 13) * 7
          FROM generate_series (current_date - %d, current_date - 1, '1 day') AS d,
               unnest (ARRAY [91, 92, 93]) AS s, generate_series (%d, %d) AS p
        ON CONFLICT DO NOTHING;
        INSERT INTO daily_product_total (day, product_id, count, quantity, revenue_cents, tax_cents)
        SELECT day, product_id, sum (count), sum (quantity), sum (revenue_cents), sum (tax_cents)
          FROM daily_product WHERE store_id IN (91, 92, 93) GROUP BY 1, 2
        ON CONFLICT (day, product_id) DO UPDATE
           SET count = EXCLUDED.count, quantity = EXCLUDED.quantity,
               revenue_cents = EXCLUDED.revenue_cents, tax_cents = EXCLUDED.tax_cents;
        INSERT INTO daily_channel_store (day, channel, store_id, count, quantity, revenue_cents, tax_cents)
        SELECT day, channel, store_id, sum (count), sum (quantity), sum (revenue_cents), sum (tax_cents)
          FROM daily_product WHERE store_id IN (91, 92, 93) GROUP BY 1, 2, 3
        ON CONFLICT (day, channel, store_id) DO UPDATE
           SET count = EXCLUDED.count, quantity = EXCLUDED.quantity,
               revenue_cents = EXCLUDED.revenue_cents, tax_cents = EXCLUDED.tax_cents;
        """ % (days, FIRST_PRODUCT, FIRST_PRODUCT + PRODUCTS - 1))
    #  What autovacuum does on a live system after such a load: the dead
    #  versions the upserts left go, the statistics are new (one statement
    #  each: VACUUM runs outside a transaction).
    for table in ("daily_product", "daily_product_total", "daily_channel_store"):
        psql("VACUUM (ANALYZE) " + table)
    return int(psql("SELECT count (*) FROM daily_product"))


def main(argv):
    if len(argv) == 3 and argv[1] == "load":
        print(load(int(argv[2])))
    elif len(argv) == 2 and argv[1] == "clean":
        clean()
    else:
        print(__doc__, file=sys.stdout if len(argv) == 2 and argv[1] in ("-h", "--help") else sys.stderr)
        return 0 if len(argv) == 2 and argv[1] in ("-h", "--help") else 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
