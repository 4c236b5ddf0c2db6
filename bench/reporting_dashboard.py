#!/usr/bin/env python3
"""Comptoir - the dashboard's cost must not grow with history (issue 8).

    . var/test/env.sh; bench/reporting_dashboard.py [--requests N]

Against the running test environment (scripts/testenv.sh): loads synthetic
history into the reporting read models, through psql, as rows of three
synthetic stores (91, 92, 93) and 333 synthetic products (ids from
1,000,000) a day: first 10 days (9,990 daily_product rows), then 1,000 days
(999,000 rows). Each day has the same rows, so the dashboard's windows (7
and 14 days) hold the same work in both runs and only the history's length
changes. After each load (and ANALYZE) it times GET /api/v1/reports/dashboard
through the edge as a manager, N requests one after another on one
keep-alive connection after a warm-up, interleaved one for one with a
reference, GET /api/v1/locations (the same path: edge, broker, a context,
PostgreSQL, a table of 5 rows), and then `SELECT 1` through pgbench (-c 1,
the same cluster). Prints p50/p95/p99 and the ratios, the 1,000-day run
against the 10-day run both raw and divided by the reference's own ratio
(on a shared machine the load moves between the runs); removes the
synthetic rows at the end (a rebuild would too).

Targets (issue 8): dashboard p95 <= 5 ms with 1,000,000 rows, and the same
as with 10,000 (ratio close to 1).
"""

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from client import Edge, staff_headers  # noqa: E402

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
        ANALYZE daily_product; ANALYZE daily_product_total; ANALYZE daily_channel_store""" % (
        days, FIRST_PRODUCT, FIRST_PRODUCT + PRODUCTS - 1))
    return int(psql("SELECT count (*) FROM daily_product"))


def percentiles(samples):
    samples = sorted(samples)
    pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))] * 1000  # noqa: E731
    return pick(0.50), pick(0.95), pick(0.99)


def time_routes(edge, routes, requests):
    """p50/p95/p99 (ms) of each (path, headers) of routes, their requests
    interleaved one by one on one keep-alive connection, so that both see
    the same load of a shared machine."""
    url = urllib.parse.urlsplit(edge.edge)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    samples = [[] for _ in routes]
    for index in range(requests + requests // 10):
        for route, (path, headers) in enumerate(routes):
            started = time.perf_counter()
            connection.request("GET", path, headers={"X-API-Key": edge.key, **headers})
            response = connection.getresponse()
            body = response.read()
            spent = time.perf_counter() - started
            if response.status != 200:
                raise SystemExit("%s answered %d: %s" % (path, response.status, body[:200]))
            if index >= requests // 10:     # the first tenth warms up
                samples[route].append(spent)
    connection.close()
    return [percentiles(one) for one in samples]


def pgbench_select_1(seconds=3):
    script = "/tmp/comptoir-bench-select1-%d.sql" % os.getpid()
    with open(script, "w", encoding="utf-8") as out:
        out.write("SELECT 1;\n")
    pgbench = "pgbench"
    out = subprocess.run([pgbench, "-n", "-c", "1", "-T", str(seconds), "-f", script,
                          conninfo("comptoir_reporting")], capture_output=True, text=True, check=False)
    os.unlink(script)
    match = re.search(r"latency average = ([0-9.]+) ms", out.stdout)
    return float(match.group(1)) if match else float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    edge = Edge()
    manager = staff_headers(edge, "manager")
    results = {}
    clean()
    try:
        for days in (10, 1000):
            rows = load(days)
            dashboard, reference = time_routes(edge, [("/api/v1/reports/dashboard", manager),
                                                      ("/api/v1/locations", {})], args.requests)
            select_1 = pgbench_select_1()
            results[days] = (rows, dashboard, reference, select_1)
            print("history %4d days, daily_product %8d rows: dashboard p50 %.2f p95 %.2f p99 %.2f ms;"
                  " GET /locations p95 %.2f ms; pgbench SELECT 1 avg %.3f ms"
                  % (days, rows, dashboard[0], dashboard[1], dashboard[2], reference[1], select_1))
            sys.stdout.flush()
    finally:
        clean()
    small, large = results[10], results[1000]
    ratio = large[1][1] / small[1][1]
    #  The machine is shared: what the reference lost or gained between the
    #  two runs is the load's, not the history's.
    normalized = (large[1][1] / large[2][1]) / (small[1][1] / small[2][1])
    print("dashboard p95 with %d rows / with %d rows: %.2f; against GET /locations in the same runs: %.2f"
          " (target: about 1)" % (large[0], small[0], ratio, normalized))
    print("dashboard p95 / GET /locations p95, interleaved: %.2f (10 days), %.2f (1,000 days)"
          % (small[1][1] / small[2][1], large[1][1] / large[2][1]))
    print(json.dumps({"rows": [small[0], large[0]], "p95_ms": [small[1][1], large[1][1]],
                      "locations_p95_ms": [small[2][1], large[2][1]],
                      "select1_avg_ms": [small[3], large[3]], "ratio": ratio,
                      "normalized_ratio": normalized}))
    print("p95 <= 5 ms with 1,000,000 rows: %s; cost flat with history (normalized ratio <= 1.3): %s"
          % ("yes" if large[1][1] <= 5.0 else "NO", "yes" if normalized <= 1.3 else "NO"))


if __name__ == "__main__":
    main()
