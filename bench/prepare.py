#!/usr/bin/env python3
"""Comptoir - benchmark preparation and checks through the edge (stdlib only).

    bench/prepare.py checkout OUTDIR CARTS CUSTOMERS
        gives the cheapest product (first by price) a large stock at
        the web location (an admin adjustment), registers CUSTOMERS customers
        and logs them in, creates CARTS guest carts holding one unit of that
        product each; writes OUTDIR/carts.txt, OUTDIR/tokens.txt and
        OUTDIR/product.txt (id price stock_before).
    bench/prepare.py cart OUTDIR CARTS
        creates CARTS empty guest carts and picks a priced product; writes
        OUTDIR/carts.txt and OUTDIR/product.txt.
    bench/prepare.py cart-verify OUTDIR
        reads every cart of OUTDIR/carts.txt and prints the sum of their
        quantities.
    bench/prepare.py checkout-verify OUTDIR
        prints the web stock of the product now (to compare with the 201s).
    bench/prepare.py pos OUTDIR REGISTERS STORES
        point of sale (issue 8): spreads REGISTERS registers over STORES
        (comma-separated store ids, round robin), inserting "Bench N"
        registers into the test cluster's comptoir_sales when the seeded two
        a store are not enough (never in the migrations); opens each one
        (closing a session a previous run left open) with a fresh login of
        its store's demo cashier; gives the 8 cheapest products a large
        stock at each of those stores (admin adjustments). Writes
        OUTDIR/registers.txt (register_id store_id token a line) and
        OUTDIR/products.txt (product_id price_cents a line).
    bench/prepare.py pos-verify RUN
        prints, per store, "store S: N completed, receipts 1..M, next R:
        gapless|GAPS" then "run: C completed" (the sales whose
        Idempotency-Key starts with RUN-) and "unfinished: U" (pending or
        voiding sales of the run).

Reads COMPTOIR_TEST_EDGE, COMPTOIR_TEST_API_KEY and COMPTOIR_TEST_VAR.
"""

import http.client
import json
import os
import sys
import threading
import urllib.parse
import uuid

EDGE = os.environ.get("COMPTOIR_TEST_EDGE", "")
KEY = os.environ.get("COMPTOIR_TEST_API_KEY", "")
VAR = os.environ.get("COMPTOIR_TEST_VAR", "var/test")
THREADS = 8
STOCK = 1_000_000
PASSWORD = "bench-password-9"


class Client:
    """One keep-alive connection to the edge."""

    def __init__(self):
        url = urllib.parse.urlsplit(EDGE)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)

    def call(self, method, path, body=None, token=None, expect=(200, 201)):
        headers = {"X-API-Key": KEY}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = "Bearer " + token
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                answer = self.conn.getresponse()
                payload = answer.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                if attempt:
                    raise
        if answer.status not in expect:
            raise RuntimeError("%s %s: %d %s" % (method, path, answer.status, payload[:300]))
        return json.loads(payload) if payload else None


def parallel(count, work):
    """Runs work(client, i) for i in range(count) over THREADS connections."""
    results = [None] * count
    errors = []

    def run(first):
        client = Client()
        try:
            for i in range(first, count, THREADS):
                results[i] = work(client, i)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(min(THREADS, count))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def admin_token(client):
    with open(os.path.join(VAR, "demo-accounts.txt"), encoding="utf-8") as accounts:
        for line in accounts:
            role, login, password, _ = line.split()
            if role == "admin":
                return client.call("POST", "/api/v1/auth/staff/login",
                                   body={"username": login, "password": password})["token"]
    raise SystemExit("prepare: no admin in demo-accounts.txt")


def web_stock(client, token, product_id, web):
    rows = client.call("GET", "/api/v1/inventory/%d" % product_id, token=token)["data"]
    return next((row["available"] for row in rows if row["location_id"] == web), 0)


def web_location(client):
    locations = client.call("GET", "/api/v1/locations")["data"]
    return next(location["id"] for location in locations if location["type"] == "web")


def first_product(client):
    return client.call("GET", "/api/v1/products?per_page=1&sort=price")["data"][0]


def new_carts(count, product_id=None):
    def make(client, _):
        cart = client.call("POST", "/api/v1/carts", body={"province": "QC"})
        if product_id is not None:
            client.call("POST", "/api/v1/carts/%s/items" % cart["id"],
                        body={"product_id": product_id, "quantity": 1})
        return cart["id"]
    return parallel(count, make)


def write_lines(path, lines):
    with open(path, "w", encoding="utf-8") as out:
        out.write("".join("%s\n" % line for line in lines))


def prepare_checkout(outdir, carts, customers):
    client = Client()
    admin = admin_token(client)
    web = web_location(client)
    product = first_product(client)
    client.call("POST", "/api/v1/inventory/adjustments", token=admin,
                body={"product_id": product["id"], "location_id": web, "delta": STOCK,
                      "reason": "receipt"})
    stock = web_stock(client, admin, product["id"], web)
    run = uuid.uuid4().hex[:10]

    def customer(client, i):
        email = "bench.%s.%d@example.com" % (run, i)
        client.call("POST", "/api/v1/auth/register",
                    body={"email": email, "password": PASSWORD, "first_name": "Banc",
                          "last_name": "Essai%d" % i})
        return client.call("POST", "/api/v1/auth/login",
                           body={"email": email, "password": PASSWORD})["token"]

    tokens = parallel(customers, customer)
    ids = new_carts(carts, product["id"])
    write_lines(os.path.join(outdir, "tokens.txt"), tokens)
    write_lines(os.path.join(outdir, "carts.txt"), ids)
    write_lines(os.path.join(outdir, "product.txt"),
                ["%d %d %d %d" % (product["id"], product["price_cents"], web, stock)])


def prepare_cart(outdir, carts):
    client = Client()
    product = first_product(client)
    write_lines(os.path.join(outdir, "carts.txt"), new_carts(carts))
    write_lines(os.path.join(outdir, "product.txt"), ["%d %d" % (product["id"], product["price_cents"])])


def read_lines(path):
    with open(path, encoding="utf-8") as lines:
        return [line.strip() for line in lines if line.strip()]


def cart_verify(outdir):
    ids = read_lines(os.path.join(outdir, "carts.txt"))

    def quantity(client, i):
        cart = client.call("GET", "/api/v1/carts/%s" % ids[i])
        return sum(line["quantity"] for line in cart["items"])

    quantities = parallel(len(ids), quantity)
    print("%d %d" % (sum(quantities), max(quantities)))


def checkout_verify(outdir):
    product_id, _, web, _ = (int(x) for x in read_lines(os.path.join(outdir, "product.txt"))[0].split())
    client = Client()
    print(web_stock(client, admin_token(client), product_id, web))


def sales_psql(query):
    """Rows of a query on the test cluster's comptoir_sales (psql -At)."""
    import subprocess
    conninfo = os.environ["COMPTOIR_TEST_PG_ADMIN"].replace("dbname=postgres", "dbname=comptoir_sales")
    out = subprocess.run(["psql", conninfo, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-Atc", query],
                         capture_output=True, text=True, timeout=60, check=False)
    if out.returncode != 0:
        raise SystemExit("prepare: psql on comptoir_sales failed: " + out.stderr.strip())
    return [line.split("|") for line in out.stdout.splitlines() if line]


def staff_login(client, role, store):
    with open(os.path.join(VAR, "demo-accounts.txt"), encoding="utf-8") as accounts:
        for line in accounts:
            fields = line.split()
            if len(fields) == 4 and fields[0] == role and fields[3] == str(store):
                return client.call("POST", "/api/v1/auth/staff/login",
                                   body={"username": fields[1], "password": fields[2]})["token"]
    raise SystemExit("prepare: no %s of store %s in demo-accounts.txt" % (role, store))


def prepare_pos(outdir, registers, stores):
    client = Client()
    admin = admin_token(client)
    wanted = {store: 0 for store in stores}
    for i in range(registers):
        wanted[stores[i % len(stores)]] += 1
    #  Enough registers at each store: the seeded two, then "Bench N" rows.
    for store, count in wanted.items():
        have = int(sales_psql("SELECT count (*) FROM registers WHERE store_id = %d" % store)[0][0])
        if have < count:
            sales_psql("INSERT INTO registers (store_id, name) SELECT %d, 'Bench ' || n "
                       "FROM generate_series (%d, %d) AS n" % (store, have + 1, count))
    rows = []
    for store, count in wanted.items():
        cashier = staff_login(client, "cashier", store)
        mine = [r for r in client.call("GET", "/api/v1/registers?store_id=%d" % store, token=cashier)["data"]
                if r["store_id"] == store]
        mine.sort(key=lambda r: r["id"])
        if len(mine) < count:
            raise SystemExit("prepare: store %d has %d registers, %d wanted" % (store, len(mine), count))
        for register in mine[:count]:
            token = staff_login(client, "cashier", store)
            if register["session"]:
                client.call("POST", "/api/v1/registers/%d/close" % register["id"], token=token,
                            body={"counted_cash_cents": 0})
            client.call("POST", "/api/v1/registers/%d/open" % register["id"], token=token,
                        body={"opening_float_cents": 20000})
            rows.append("%d %d %s" % (register["id"], store, token))
    locations = {location.get("store_id"): location["id"]
                 for location in client.call("GET", "/api/v1/locations")["data"]
                 if location["type"] == "store"}
    products = [p for p in client.call("GET", "/api/v1/products?per_page=8&sort=price")["data"]
                if p["price_cents"] > 0]
    for store in wanted:
        for product in products:
            client.call("POST", "/api/v1/inventory/adjustments", token=admin,
                        body={"product_id": product["id"], "location_id": locations[store],
                              "delta": STOCK, "reason": "receipt"})
    write_lines(os.path.join(outdir, "registers.txt"), rows)
    write_lines(os.path.join(outdir, "products.txt"),
                ["%d %d" % (product["id"], product["price_cents"]) for product in products])


def pos_verify(run):
    gapless = True
    for store, count, low, high, following in sales_psql(
            "SELECT s.id, count (x.receipt_seq), coalesce (min (x.receipt_seq), 0),"
            "       coalesce (max (x.receipt_seq), 0), s.next_receipt"
            "  FROM stores s LEFT JOIN sales x ON x.store_id = s.id AND x.status = 'completed'"
            " GROUP BY s.id ORDER BY s.id"):
        ok = int(count) == int(high) and int(low) in (0, 1) and int(following) == int(high) + 1
        gapless = gapless and ok
        print("store %s: %s completed, receipts %s..%s, next %s: %s"
              % (store, count, low, high, following, "gapless" if ok else "GAPS"))
    like = run.replace("_", "\\_") + "-%"
    print("run: %s completed" % sales_psql("SELECT count (*) FROM sales WHERE status = 'completed'"
                                           " AND idem_key LIKE '%s'" % like)[0][0])
    print("unfinished: %s" % sales_psql("SELECT count (*) FROM sales WHERE status IN ('pending', 'voiding')"
                                        " AND idem_key LIKE '%s'" % like)[0][0])
    return 0 if gapless else 1


def main(argv):
    if len(argv) >= 2 and argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    if not EDGE or not KEY:
        print("prepare.py: COMPTOIR_TEST_EDGE and COMPTOIR_TEST_API_KEY are not set "
              "(scripts/testenv.sh start, then . var/test/env.sh)", file=sys.stderr)
        return 2
    if len(argv) >= 5 and argv[1] == "checkout":
        prepare_checkout(argv[2], int(argv[3]), int(argv[4]))
    elif len(argv) >= 4 and argv[1] == "cart":
        prepare_cart(argv[2], int(argv[3]))
    elif len(argv) >= 3 and argv[1] == "cart-verify":
        cart_verify(argv[2])
    elif len(argv) >= 3 and argv[1] == "checkout-verify":
        checkout_verify(argv[2])
    elif len(argv) >= 5 and argv[1] == "pos":
        prepare_pos(argv[2], int(argv[3]), [int(x) for x in argv[4].split(",")])
    elif len(argv) >= 3 and argv[1] == "pos-verify":
        return pos_verify(argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
