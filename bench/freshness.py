#!/usr/bin/env python3
"""Comptoir - freshness of the dashboard (issue 8): from a sale's 201 to its
appearance on GET /api/v1/reports/dashboard.

    bench/freshness.py PROBE_DIR SAMPLES PERIOD_MS

PROBE_DIR holds registers.txt and products.txt as `bench/prepare.py pos`
writes them, for one register of a store no other load sells at (the
marker: only the probe changes that store's figures). Reads the store's
sales_7d and revenue_7d_cents once, then SAMPLES times, one every
PERIOD_MS: rings up a sale (1 unit of a product, cash) and records the
expected figures (count + 1, revenue + the sale's subtotal less discount:
the dashboard's revenue is before taxes); from the
201 on, polls the dashboard as a manager (one keep-alive connection, a
request every 10 ms) until the store shows at least both, and records the
seconds between the 201 and the first answer that shows them. A probe
sale not visible after 10 s is counted as such. Prints each sample to
PROBE_DIR/samples.txt and one line:
    RESULT samples= p50_ms= p95_ms= p99_ms= max_ms= late= extra=
(extra: figures above the expected ones, i.e. another writer at that
store: the run is then invalid). Three late samples in a row end the probe
(reporting has fallen behind the load). Reads COMPTOIR_TEST_EDGE,
COMPTOIR_TEST_API_KEY and COMPTOIR_TEST_VAR.
"""

import http.client
import json
import os
import sys
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prepare import Client, staff_login  # noqa: E402

GIVE_UP_S = 10.0


def store_figures(connection, key, manager, store):
    connection.request("GET", "/api/v1/reports/dashboard",
                       headers={"X-API-Key": key, "Authorization": "Bearer " + manager})
    answer = connection.getresponse()
    body = answer.read()
    if answer.status != 200:
        raise SystemExit("freshness: dashboard answered %d %s" % (answer.status, body[:200]))
    for row in json.loads(body)["stores"]:
        if row["store_id"] == store:
            return row["sales_7d"], row["revenue_7d_cents"]
    raise SystemExit("freshness: store %d is not on the dashboard" % store)


def percentile(samples, q):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv):
    if len(argv) != 4 or argv[1] in ("-h", "--help"):
        print(__doc__, file=sys.stderr if len(argv) != 2 else sys.stdout)
        return 0 if len(argv) == 2 else 2
    outdir, samples_wanted, period = argv[1], int(argv[2]), int(argv[3]) / 1000.0
    edge, key = os.environ.get("COMPTOIR_TEST_EDGE"), os.environ.get("COMPTOIR_TEST_API_KEY")
    if not edge or not key:
        print("freshness: COMPTOIR_TEST_EDGE and COMPTOIR_TEST_API_KEY are not set", file=sys.stderr)
        return 2
    with open(os.path.join(outdir, "registers.txt"), encoding="utf-8") as lines:
        register, store, token = lines.readline().split()
    register, store = int(register), int(store)
    with open(os.path.join(outdir, "products.txt"), encoding="utf-8") as lines:
        product = int(lines.readline().split()[0])
    seller = Client()
    manager = staff_login(seller, "manager", store)
    url = urllib.parse.urlsplit(edge)
    reader = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    count, revenue = store_figures(reader, key, manager, store)
    run = uuid.uuid4().hex[:8]
    samples, late, extra, in_row = [], 0, 0, 0
    out = open(os.path.join(outdir, "samples.txt"), "w", encoding="utf-8")
    for n in range(samples_wanted):
        began = time.monotonic()
        headers = {"X-API-Key": key, "Authorization": "Bearer " + token,
                   "Content-Type": "application/json", "Idempotency-Key": "fresh-%s-%d" % (run, n)}
        body = json.dumps({"register_id": register, "items": [{"product_id": product, "quantity": 1}],
                           "payments": [{"method": "cash", "amount_cents": 100000}]})
        seller.conn.request("POST", "/api/v1/sales", body=body, headers=headers)
        answer = seller.conn.getresponse()
        payload = answer.read()
        created = time.monotonic()
        if answer.status != 201:
            raise SystemExit("freshness: the probe sale answered %d %s" % (answer.status, payload[:200]))
        count += 1
        sale = json.loads(payload)
        revenue += sale["subtotal_cents"] - sale["discount_cents"]    # revenue is before taxes
        seen = None
        while time.monotonic() - created < GIVE_UP_S:
            shown_count, shown_revenue = store_figures(reader, key, manager, store)
            if shown_count >= count and shown_revenue >= revenue:
                seen = time.monotonic()
                if shown_count > count or shown_revenue > revenue:
                    extra += 1
                break
            time.sleep(0.01)
        if seen is None:
            late += 1
            out.write("%d late\n" % n)
            in_row += 1
            if in_row == 3:
                out.write("three late in a row: reporting is behind the load, probe ended\n")
                break
        else:
            in_row = 0
            samples.append(seen - created)
            out.write("%d %.1f\n" % (n, (seen - created) * 1000))
        out.flush()
        time.sleep(max(0.0, period - (time.monotonic() - began)))
    out.close()
    if not samples:
        print("RESULT samples=0 p50_ms=- p95_ms=- p99_ms=- max_ms=- late=%d extra=%d" % (late, extra))
        return 0
    ms = lambda q: percentile(samples, q) * 1000  # noqa: E731
    print("RESULT samples=%d p50_ms=%.1f p95_ms=%.1f p99_ms=%.1f max_ms=%.1f late=%d extra=%d"
          % (len(samples), ms(0.50), ms(0.95), ms(0.99), max(samples) * 1000, late, extra))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
