"""Comptoir end-to-end tests: a small HTTP client and test runner (stdlib only).

The tests run against a live system started by scripts/testenv.sh, found
through COMPTOIR_TEST_EDGE, COMPTOIR_TEST_ADMIN and COMPTOIR_TEST_API_KEY.
Without them a suite exits 77 (skipped). Each test prints PASS: or FAIL:,
then the suite prints "N passed, N failed" and exits 1 on any failure.
"""

import http.client
import json
import os
import random
import sys
import time
import traceback
import urllib.parse
import uuid

TIMEOUT_S = 10


class Response:
    """One HTTP answer: status, headers (case-insensitive), body."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {name.lower(): value for name, value in headers}
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


class Edge:
    """The edge and admin base URLs and the API key from the environment."""

    def __init__(self):
        self.edge = os.environ.get("COMPTOIR_TEST_EDGE")
        self.admin = os.environ.get("COMPTOIR_TEST_ADMIN")
        self.key = os.environ.get("COMPTOIR_TEST_API_KEY")
        if not (self.edge and self.admin and self.key):
            print("SKIP: COMPTOIR_TEST_EDGE, COMPTOIR_TEST_ADMIN and COMPTOIR_TEST_API_KEY "
                  "are not set (run scripts/testenv.sh start, then . var/test/env.sh)")
            sys.exit(77)

    @staticmethod
    def connect(base):
        url = urllib.parse.urlsplit(base)
        return http.client.HTTPConnection(url.hostname, url.port or 80, timeout=TIMEOUT_S)

    def request(self, method, path, body=None, headers=None, key=True, admin=False,
                connection=None):
        """Send one request; a dict or list body is sent as JSON. Uses a fresh
        connection unless one is given (for keep-alive tests)."""
        all_headers = {}
        if key:
            all_headers["X-API-Key"] = self.key if key is True else key
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
            all_headers["Content-Type"] = "application/json"
        elif isinstance(body, str):
            body = body.encode("utf-8")
        all_headers.update(headers or {})
        own = connection is None
        conn = connection or self.connect(self.admin if admin else self.edge)
        try:
            conn.request(method, path, body=body, headers=all_headers)
            answer = conn.getresponse()
            return Response(answer.status, answer.getheaders(), answer.read())
        finally:
            if own:
                conn.close()

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)


def assert_error(response, status, code):
    """The error shape of API.md, with the status and code expected."""
    assert response.status == status, "expected %d, got %r" % (status, response)
    assert response.header("Content-Type", ).startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "request_id", "details"}, error
    assert error["code"] == code, "expected code %s, got %s" % (code, error["code"])
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["details"], list), error
    assert error["request_id"] == response.header("X-Request-ID"), \
        (error["request_id"], response.header("X-Request-ID"))
    return error


class Skip(Exception):
    """What this test needs is not there: the test is reported SKIP, not FAIL."""


class Suite:
    """Collects test functions and runs them in order (only those named on
    the command line, when some are)."""

    def __init__(self):
        self.tests = []

    def test(self, function):
        self.tests.append(function)
        return function

    def run(self, edge):
        passed = failed = 0
        only = [name for name in sys.argv[1:] if not name.startswith("-")]
        for function in self.tests:
            name = function.__name__
            if only and name not in only:
                continue
            started = time.monotonic()
            try:
                function(edge)
                passed += 1
                print("PASS: %s (%.2fs)" % (name, time.monotonic() - started))
            except Skip as reason:
                print("SKIP: %s (%s)" % (name, reason))
            except Exception:       # noqa: BLE001 - any failure fails the test
                failed += 1
                print("FAIL: %s (%.2fs)" % (name, time.monotonic() - started))
                traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
        print("%d passed, %d failed" % (passed, failed))
        sys.exit(1 if failed else 0)


def run_with_database(suite):
    """Run a suite that also reads the test cluster with psql: skipped (77)
    without COMPTOIR_TEST_PG_ADMIN."""
    if not os.environ.get("COMPTOIR_TEST_PG_ADMIN"):
        print("SKIP: COMPTOIR_TEST_PG_ADMIN is not set (run scripts/testenv.sh start, then . var/test/env.sh)")
        print("0 passed, 0 failed")
        sys.exit(77)
    suite.run(Edge())


#  --------------------------------------------------------------------------
#  Helpers for the order tests: staff and customer tokens, the test cluster's
#  databases through psql.

def demo_accounts():
    """[(role, login, password, store_id)] from the demo accounts the test
    environment made."""
    path = os.path.join(os.environ.get("COMPTOIR_TEST_VAR", "var/test"), "demo-accounts.txt")
    with open(path, encoding="utf-8") as accounts:
        return [tuple(line.split()) for line in accounts if len(line.split()) == 4]


def staff_headers(edge, role="admin", store=None):
    """The Authorization header of the first demo staff account with role
    (working at store, when given)."""
    for account_role, login, password, store_id in demo_accounts():
        if account_role == role and (store is None or store_id == str(store)):
            response = edge.request("POST", "/api/v1/auth/staff/login",
                                    body={"username": login, "password": password})
            assert response.status == 200, response
            return {"Authorization": "Bearer " + response.json()["token"]}
    raise AssertionError("no demo account with role " + role)


def new_customer(edge, prefix="test", password="correct-horse-9"):
    """Register a fresh customer and log in: (customer, Authorization header)."""
    email = "%s.%s@example.com" % (prefix, os.urandom(6).hex())
    response = edge.request("POST", "/api/v1/auth/register",
                            body={"email": email, "password": password,
                                  "first_name": "Test", "last_name": "Client"})
    assert response.status == 201, response
    response = edge.request("POST", "/api/v1/auth/login", body={"email": email, "password": password})
    assert response.status == 200, response
    body = response.json()
    return body["customer"], {"Authorization": "Bearer " + body["token"]}


def sql(context, query):
    """Rows of one query on comptoir_<context> in the test cluster, each a
    list of text fields (psql -At). Needs COMPTOIR_TEST_PG_ADMIN."""
    import subprocess
    conninfo = os.environ["COMPTOIR_TEST_PG_ADMIN"].replace("dbname=postgres",
                                                           "dbname=comptoir_" + context)
    out = subprocess.run(["psql", conninfo, "-X", "-v", "ON_ERROR_STOP=1", "-Atc", query],
                         capture_output=True, text=True, timeout=30, check=False)
    if out.returncode != 0:
        raise AssertionError("psql on %s failed: %s" % (context, out.stderr.strip()))
    return [line.split("|") for line in out.stdout.splitlines()]


#  --------------------------------------------------------------------------
#  Helpers for the point of sale: products with a barcode and a cost, stock
#  at a store, a register opened (shared by test_pos and the reporting chaos
#  test).

DEMO_STORE = 1          # Montréal, QC: GST 5 % + QST 9.975 %


def keyed(headers, key=None):
    """headers with an Idempotency-Key (a fresh one unless given)."""
    return dict(headers, **{"Idempotency-Key": key or uuid.uuid4().hex})


def ean13():
    """A random EAN-13 with its check digit, in the in-store range."""
    digits = [random.randint(0, 9) for _ in range(12)]
    digits[0] = 2       # in-store numbers: never a real product's
    total = sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def store_location(edge, store=DEMO_STORE):
    """The inventory location of a store."""
    return [l["id"] for l in edge.get("/api/v1/locations").json()["data"]
            if l["type"] == "store" and l.get("store_id") == store][0]


def barcoded_product(edge, admin, price, cost, units, store=DEMO_STORE, location=None):
    """A new product with a barcode, price and cost, units in stock at the
    store (or at location, when given): (id, barcode)."""
    categories = edge.get("/api/v1/categories").json()["data"]
    barcode = ean13()
    response = edge.request("POST", "/api/v1/products", headers=admin,
                            body={"name": "Caisse %s" % uuid.uuid4().hex[:8], "price_cents": price,
                                  "cost_cents": cost, "barcode": barcode,
                                  "category_id": categories[0]["id"]})
    assert response.status == 201, response
    product = response.json()["id"]
    response = edge.request("POST", "/api/v1/inventory/adjustments", headers=admin,
                            body={"product_id": product, "location_id": location or store_location(edge, store),
                                  "delta": units, "reason": "receipt"})
    assert response.status == 201, response
    return product, barcode


def open_register(edge, headers, store=DEMO_STORE, float_cents=20000):
    """A register of the store, closed first when a previous run left it open: its id."""
    registers = edge.get("/api/v1/registers", headers=headers).json()["data"]
    mine = [r for r in registers if r["store_id"] == store]
    assert len(mine) >= 2, registers
    register = mine[0]["id"]
    if mine[0]["session"]:
        response = edge.request("POST", "/api/v1/registers/%d/close" % register, headers=headers,
                                body={"counted_cash_cents": 0})
        assert response.status == 200, response
    response = edge.request("POST", "/api/v1/registers/%d/open" % register, headers=headers,
                            body={"opening_float_cents": float_cents})
    assert response.status == 201, response
    return register, response.json()["id"]


def stock_row(product, location):
    """(on_hand, reserved, available) of one stock row, read in the inventory database."""
    rows = sql("inventory", "SELECT on_hand, reserved, available FROM stock "
                            "WHERE product_id = %d AND location_id = %d" % (product, location))
    assert len(rows) == 1, rows
    return tuple(int(value) for value in rows[0])


def cart_with(edge, customer, product, quantity=1):
    """A new cart of customer (QC) holding quantity of product: its id."""
    response = edge.request("POST", "/api/v1/carts", body={"province": "QC"}, headers=customer)
    assert response.status == 201, response
    cart = response.json()["id"]
    response = edge.request("POST", "/api/v1/carts/%s/items" % cart, headers=customer,
                            body={"product_id": product, "quantity": quantity})
    assert response.status == 201, response
    return cart


def product_with_stock(edge, staff, location, units, name, **fields):
    """A new product (made by staff, a manager or an admin) named name plus a
    random tag, price 12.50 unless fields say otherwise, with units received
    at location: its id."""
    categories = edge.get("/api/v1/categories").json()["data"]
    body = {"name": "%s %s" % (name, uuid.uuid4().hex[:8]), "price_cents": 1250,
            "category_id": categories[0]["id"], **fields}
    response = edge.request("POST", "/api/v1/products", headers=staff, body=body)
    assert response.status == 201, response
    product = response.json()["id"]
    response = edge.request("POST", "/api/v1/inventory/adjustments", headers=staff,
                            body={"product_id": product, "location_id": location, "delta": units,
                                  "reason": "receipt"})
    assert response.status == 201, response
    return product


def buyers(product, count, prefix, threads=8):
    """count new customers, each with its own cart of one unit of product:
    [(Authorization header, cart id)]. Argon2id makes registration slow:
    a small pool of threads."""
    from concurrent.futures import ThreadPoolExecutor

    def prepare(_):
        mine = Edge()
        _, customer = new_customer(mine, prefix)
        return customer, cart_with(mine, customer, product)

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        made = list(pool.map(prepare, range(count)))
    print("  setup: %d customers with a cart in %.1f s" % (count, time.monotonic() - started))
    return made


#  --------------------------------------------------------------------------
#  Helpers for the race tests: many requests released at once, their
#  answers tallied, and a stock row sampled while they run.

def error_code(response):
    """The error code of an answer, or None."""
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def race(requests):
    """POST every (path, body, headers) at once (one thread each, behind a
    barrier): the answers in the same order, an exception standing for a
    failed one; each answer carries its elapsed time."""
    import threading
    barrier = threading.Barrier(len(requests))
    answers = [None] * len(requests)
    edge = Edge()

    def send(index, path, body, headers):
        barrier.wait()
        started = time.monotonic()
        try:
            answers[index] = edge.request("POST", path, body=body, headers=headers)
        except Exception as error:  # noqa: BLE001 - reported as the answer
            answers[index] = error
        answers[index].elapsed = time.monotonic() - started  # type: ignore[union-attr]

    threads = [threading.Thread(target=send, args=(index, path, body, headers))
               for index, (path, body, headers) in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def histogram(answers):
    """{"201 ": n, "409 out_of_stock": n, "exception X": n}"""
    import collections
    counts = collections.Counter()
    for answer in answers:
        if isinstance(answer, Exception):
            counts["exception %s" % type(answer).__name__] += 1
        else:
            counts["%d %s" % (answer.status, error_code(answer) or "")] += 1
    return dict(sorted(counts.items()))


def latency(answers):
    times = sorted(getattr(answer, "elapsed", 0.0) for answer in answers)
    return "latency p50 %.2f s, p90 %.2f s, max %.2f s" % (
        times[len(times) // 2], times[int(len(times) * 0.9)], times[-1])


class StockSampler:
    """The inventory's stock row of (product, location) read every 20 ms by
    one psql session repeating the query with \\watch, from start() (which
    returns once the first sample is in) to stop(), which returns the
    samples [(on_hand, reserved, available)]."""

    def __init__(self, product, location):
        self.query = ("SELECT on_hand, reserved, available FROM stock WHERE product_id = %d "
                      "AND location_id = %d \\watch 0.02\n" % (product, location))
        self.samples = []
        self.watch = self.reader = None

    def start(self):
        import subprocess
        import threading
        conninfo = os.environ["COMPTOIR_TEST_PG_ADMIN"].replace("dbname=postgres",
                                                               "dbname=comptoir_inventory")
        self.watch = subprocess.Popen(["psql", conninfo, "-X", "-At"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.watch.stdin.write(self.query)
        self.watch.stdin.flush()
        self.reader = threading.Thread(target=self._read)
        self.reader.start()
        #  running before the caller goes on: its first sample is in
        until = time.monotonic() + 10
        while not self.samples and time.monotonic() < until:
            time.sleep(0.01)
        assert self.samples, "the stock sampler gave no sample in 10 s"
        return self

    def _read(self):
        for line in self.watch.stdout:
            fields = line.strip().split("|")
            if len(fields) == 3 and all(field.lstrip("-").isdigit() for field in fields):
                self.samples.append(tuple(int(field) for field in fields))

    def stop(self):
        time.sleep(0.1)
        self.watch.terminate()
        self.watch.wait(timeout=10)
        self.reader.join(timeout=10)
        return self.samples
