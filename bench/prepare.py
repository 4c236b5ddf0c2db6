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
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
