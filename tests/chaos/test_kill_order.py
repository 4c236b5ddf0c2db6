#!/usr/bin/env python3
"""Chaos: the order process is killed with SIGKILL under steady checkout
traffic; every checkout still ends in one final state, consistent across
the order and inventory databases and with what the clients were told.

Against the test environment (scripts/testenv.sh start; . var/test/env.sh;
it sets order/recover_after_s=3): THREADS customers check out in a loop, each
time a fresh cart with one or two lines of two fresh products that have
plenty of stock at the web location, a fresh Idempotency-Key, and about one
time in six the declined card. Checkout is not retryable at the edge: a
request the dead worker held answers 503 (or 504), and the client sends the
same key and body again after a short pause, as a careful client would,
until a final answer (201, 402, 409 out_of_stock) or CHECKOUT_BOUND_S. A
repeat meets 409 idempotency_key_in_use while the saga is unfinished, then
after the recovery sweep either the stored 201 or, when the recovery undid
the order and freed the key, a new checkout.

Meanwhile, every KILL_EVERY seconds for DURATION seconds, the order process
(its pid from the supervisor's status file) is killed; the supervisor
restarts it. After the traffic and the recovery, the databases must show:
no order unfinished, each confirmed with its payment captured or cancelled
with none captured, no reservation held, nothing reserved at web, on_hand =
initial - the units of the confirmed orders (and the movement journal
agrees), and each key's final answer matching its orders.

Prints PASS:/FAIL: lines and `N passed, N failed`. Exits 77 (skip) without
the test environment.
"""
import collections
import json
import os
import random
import signal
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from client import Edge, new_customer, product_with_stock, sql, staff_headers  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chaoslib import alive, report, summary, workers  # noqa: E402

DURATION = float(os.environ.get("COMPTOIR_CHAOS_SECONDS", "25"))
KILL_EVERY = 3.0
THREADS = 6
CHECKOUT_BOUND_S = 30.0
RETRY_PAUSE_S = 0.25
RECOVERY_WAIT_S = 20.0
INITIAL = 100000
DECLINED_SHARE = 1 / 6
RETRY_ON = {(503, None), (504, None), (409, "idempotency_key_in_use")}
FINAL = {201, 402, (409, "out_of_stock")}
ADDRESS = {"full_name": "Chaos Client", "line1": "1 rue Sainte-Catherine", "city": "Montréal",
           "province": "QC", "postal_code": "H2X 1Y4", "country": "CA"}


def order_workers(path):
    return workers(path, "order-")


def error_code(response):
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def classify(response):
    """The answer as the retry rule sees it: a status, or (409, code)."""
    if response.status == 409:
        return (409, error_code(response))
    if response.status in (503, 504):
        return (response.status, None)
    return response.status


def fresh_products(edge, staff, web):
    return [product_with_stock(edge, staff, web, INITIAL, "Chaos order", price_cents=price)
            for price in (1999, 4550)]


class Shopper(threading.Thread):
    """One customer checking out again and again until told to stop."""

    def __init__(self, index, products, run, stop, seed):
        super().__init__(daemon=True)
        self.index, self.products, self.run_id, self.stop = index, products, run, stop
        self.rng = random.Random(seed)
        self.edge = Edge()
        self.customer = None
        self.checkouts = []        # one dict per checkout: key, lines, token, answers, final
        self.errors = []

    def call(self, method, path, body, headers):
        try:
            return self.edge.request(method, path, body=body, headers=headers)
        except Exception as error:  # noqa: BLE001 - the edge itself is not killed: a failure
            self.errors.append("%s %s: %s" % (method, path, error))
            return None

    def fill_cart(self, headers):
        response = self.call("POST", "/api/v1/carts", {"province": "QC"}, headers)
        if response is None or response.status != 201:
            self.errors.append("cart create: %r" % response)
            return None, None
        cart = response.json()["id"]
        lines = {}
        for product in self.rng.sample(self.products, self.rng.choice((1, 2))):
            quantity = self.rng.randint(1, 3)
            response = self.call("POST", "/api/v1/carts/%s/items" % cart,
                                 {"product_id": product, "quantity": quantity}, headers)
            if response is None or response.status != 201:
                self.errors.append("cart add: %r" % response)
                return None, None
            lines[product] = quantity
        return cart, lines

    def checkout(self, headers, cart, lines):
        token = "tok_declined" if self.rng.random() < DECLINED_SHARE else "tok_visa"
        key = "%s-%d-%s" % (self.run_id, self.index, uuid.uuid4().hex[:12])
        body = {"cart_id": cart, "shipping_address": ADDRESS,
                "payment": {"method": "card", "token": token}}
        record = {"key": key, "lines": lines, "token": token, "answers": [], "final": None,
                  "order": None, "replayed": False, "rids": []}
        deadline = time.monotonic() + CHECKOUT_BOUND_S
        while time.monotonic() < deadline:
            rid = str(uuid.uuid4())
            record["rids"].append(rid)
            response = self.call("POST", "/api/v1/checkout", body,
                                 {**headers, "Idempotency-Key": key, "X-Request-ID": rid})
            if response is None:
                record["answers"].append("exception")
                time.sleep(RETRY_PAUSE_S)
                continue
            kind = classify(response)
            record["answers"].append(kind)
            if response.status == 503 and (error_code(response) != "service_unavailable"
                                           or not response.header("Retry-After")):
                self.errors.append("503 without its shape (request %s): %r %s" % (
                    rid, response, response.headers))
            if kind in FINAL:
                record["final"] = kind
                if response.status == 201:
                    record["order"] = response.json()
                    record["replayed"] = response.header("Idempotent-Replayed") == "true"
                break
            if kind not in RETRY_ON:
                record["final"] = ("unexpected", response.status, response.body[:200])
                break
            time.sleep(RETRY_PAUSE_S)
        self.checkouts.append(record)

    def run(self):
        try:
            _, headers = new_customer(self.edge, "chaos")
        except Exception as error:  # noqa: BLE001
            self.errors.append("register: %s" % error)
            return
        self.customer = headers
        while not self.stop.is_set():
            cart, lines = self.fill_cart(headers)
            if cart is None:
                time.sleep(RETRY_PAUSE_S)
                continue
            self.checkout(headers, cart, lines)


def compact(answers):
    """[503, 409 x 12, 201]: runs of the same answer counted."""
    runs = []
    for answer in answers:
        text = "%d %s" % answer if isinstance(answer, tuple) else str(answer)
        text = text.replace(" None", "")
        if runs and runs[-1][0] == text:
            runs[-1][1] += 1
        else:
            runs.append([text, 1])
    return "[" + ", ".join(text + (" x%d" % count if count > 1 else "") for text, count in runs) + "]"


def quoted(values):
    return ",".join("'%s'" % value.replace("'", "''") for value in values) or "NULL"


def main():
    status_path = os.environ.get("COMPTOIR_TEST_SUPERVISOR_STATUS")
    if not (os.environ.get("COMPTOIR_TEST_EDGE") and os.environ.get("COMPTOIR_TEST_PG_ADMIN")
            and status_path and os.path.exists(status_path)):
        print("chaos: no test environment (scripts/testenv.sh start; . var/test/env.sh): skipped")
        print("0 passed, 0 failed")
        return 77
    edge = Edge()
    staff = staff_headers(edge, "admin")
    locations = edge.get("/api/v1/locations").json()["data"]
    web = [location["id"] for location in locations if location["type"] == "web"][0]
    products = fresh_products(edge, staff, web)
    workers = order_workers(status_path)
    report("order_worker_running", len(workers) >= 1 and all(alive(pid) for pid, _ in workers.values()),
           str(workers))
    if not workers:
        return summary()
    restarts_before = sum(restarts for _, restarts in workers.values())
    run_id = "chaos-order-" + uuid.uuid4().hex[:8]

    stop = threading.Event()
    shoppers = [Shopper(n, products, run_id, stop, n * 7919 + 1) for n in range(THREADS)]
    for shopper in shoppers:
        shopper.start()

    #  Let the traffic settle, then kill the order process every KILL_EVERY
    #  seconds (once the supervisor has brought it back)
    time.sleep(1.0)
    kills, kill_errors = 0, []
    start = time.monotonic()
    next_kill = start + 0.5
    rng = random.Random(4)
    while time.monotonic() - start < DURATION:
        time.sleep(0.05)
        if time.monotonic() < next_kill:
            continue
        up = [pid for pid, _ in order_workers(status_path).values() if pid > 0 and alive(pid)]
        if not up:
            continue                    # still restarting: the next poll
        try:
            os.kill(rng.choice(up), signal.SIGKILL)
            kills += 1
        except ProcessLookupError:
            pass
        except OSError as error:
            kill_errors.append(str(error))
        next_kill = time.monotonic() + KILL_EVERY
    traffic_s = time.monotonic() - start
    stop.set()
    for shopper in shoppers:
        shopper.join(timeout=CHECKOUT_BOUND_S + 15)

    #  The recovery: no unfinished order of this run, no held reservation
    recovery_started = time.monotonic()
    keys_clause = "o.idem_key LIKE '%s-%%'" % run_id
    while True:
        unfinished = sql("order", "SELECT count (*) FROM orders o WHERE %s AND o.step <> 'done'"
                                  % keys_clause)[0][0]
        reserved = sql("inventory", "SELECT COALESCE (sum (reserved), 0) FROM stock WHERE "
                                    "location_id = %d AND product_id IN (%s)"
                                    % (web, ",".join(map(str, products))))[0][0]
        if (unfinished == "0" and reserved == "0") or \
                time.monotonic() - recovery_started > RECOVERY_WAIT_S:
            break
        time.sleep(0.25)
    recovery_s = time.monotonic() - recovery_started

    checkouts = [record for shopper in shoppers for record in shopper.checkouts]
    errors = [error for shopper in shoppers for error in shopper.errors]
    answers = collections.Counter(str(kind) for record in checkouts for kind in record["answers"])
    finals = collections.Counter(str(record["final"]) for record in checkouts)
    retries = sum(len(record["answers"]) - 1 for record in checkouts)
    failed_5xx = sum(1 for record in checkouts for kind in record["answers"]
                     if kind in ((503, None), (504, None)))
    print("  %d kills in %.0f s, %d checkouts, %d retries, recovery waited %.1f s" % (
        kills, traffic_s, len(checkouts), retries, recovery_s))
    print("  every answer: %s" % dict(sorted(answers.items())))
    print("  final answers: %s" % dict(sorted(finals.items())))
    retried = [record for record in checkouts if len(record["answers"]) > 1]
    for record in retried[:12]:
        print("  retried %s (first request %s): %s -> %s%s" % (
            record["key"], record["rids"][0], compact(record["answers"]),
            record["final"] if record["final"] != 201 else "201 order %s" % record["order"]["id"],
            " (replayed)" if record["replayed"] else ""))

    workers = order_workers(status_path)
    restarts_after = sum(restarts for _, restarts in workers.values())
    report("order_process_was_killed", kills >= int(DURATION / KILL_EVERY) - 2 and not kill_errors,
           "%d kills, restarts %d -> %d %s" % (kills, restarts_before, restarts_after,
                                               "; ".join(kill_errors)))
    report("checkouts_were_interrupted", failed_5xx >= 3,
           "%d answers 503/504 over %d checkouts" % (failed_5xx, len(checkouts)))
    report("no_client_errors", not errors, "; ".join(errors[:5]))
    stuck = [record for record in checkouts if record["final"] not in FINAL]
    report("every_checkout_reached_a_final_answer", checkouts and not stuck,
           "%d checkouts, %d without a final answer within %.0f s%s" % (
               len(checkouts), len(stuck), CHECKOUT_BOUND_S,
               "".join("; %s answers %s, first request %s" % (r["key"], compact(r["answers"]), r["rids"][0])
                       for r in stuck[:5])))

    #  The order database
    orders = sql("order", "SELECT o.id, o.number, o.status, o.step, o.idem_key, "
                          "  (SELECT count (*) FROM payments p WHERE p.order_id = o.id AND p.status = 'captured'), "
                          "  (SELECT string_agg (p.status, ',' ORDER BY p.id) FROM payments p WHERE p.order_id = o.id), "
                          "  (SELECT json_object_agg (i.product_id, i.quantity) FROM order_items i WHERE i.order_id = o.id) "
                          "FROM orders o WHERE %s ORDER BY o.id" % keys_clause)
    by_id = {int(row[0]): row for row in orders}
    unfinished = [row[:5] for row in orders if row[3] != "done" or row[2] not in ("confirmed", "cancelled")]
    report("no_order_left_unfinished", orders and not unfinished,
           "%d orders, unfinished: %s" % (len(orders), unfinished[:5]))
    bad_payments = [row[:7] for row in orders
                    if (row[2] == "confirmed" and (row[5] != "1" or row[6] != "captured"))
                    or (row[2] == "cancelled" and row[5] != "0")]
    report("payments_match_the_orders", not bad_payments,
           "%d confirmed, %d cancelled; mismatches: %s" % (
               sum(row[2] == "confirmed" for row in orders),
               sum(row[2] == "cancelled" for row in orders), bad_payments[:5]))

    running = sql("order", "SELECT key, created_at FROM idempotency_keys WHERE key LIKE '%s-%%' "
                           "AND status <> 'done'" % run_id)
    report("no_idempotency_key_left_running", not running, "running: %s" % running[:5])

    #  The inventory database
    numbers = ["order:" + row[1] for row in orders]
    held = sql("inventory", "SELECT id, status FROM reservations WHERE id IN (%s) AND status = 'held'"
                            % quoted(numbers))
    stock = {int(row[0]): (int(row[1]), int(row[2])) for row in sql(
        "inventory", "SELECT product_id, on_hand, reserved FROM stock WHERE location_id = %d "
                     "AND product_id IN (%s)" % (web, ",".join(map(str, products))))}
    journal = {int(row[0]): int(row[1]) for row in sql(
        "inventory", "SELECT product_id, sum (delta) FROM movements WHERE location_id = %d "
                     "AND product_id IN (%s) GROUP BY product_id" % (web, ",".join(map(str, products))))}
    sold = collections.Counter()
    for row in orders:
        if row[2] == "confirmed":
            for product, quantity in json.loads(row[7]).items():
                sold[int(product)] += quantity
    report("no_reservation_held", not held and all(stock[p][1] == 0 for p in products),
           "held: %s; reserved at web: %s" % (held[:5], {p: stock[p][1] for p in products}))
    report("stock_is_initial_minus_confirmed_units",
           all(stock[p][0] == INITIAL - sold[p] == journal.get(p) for p in products),
           "; ".join("product %d: on_hand %d, initial %d - sold %d = %d, journal %s" % (
               p, stock[p][0], INITIAL, sold[p], INITIAL - sold[p], journal.get(p)) for p in products))

    #  Each key's final answer against its orders
    by_key = collections.defaultdict(list)
    for row in orders:
        by_key[row[4]].append(row)
    keys = {record["key"]: record for record in checkouts}
    problems = []
    for key, rows in by_key.items():
        if key not in keys:
            problems.append("orders for a key no client sent: %s" % [r[:4] for r in rows])
    for record in checkouts:
        rows = by_key.get(record["key"], [])
        confirmed = [row for row in rows if row[2] == "confirmed"]
        if record["final"] == 201:
            order = record["order"]
            row = by_id.get(order.get("id"))
            if order.get("status") != "confirmed" or row is None or row[2] != "confirmed" \
                    or row[4] != record["key"] or len(confirmed) != 1:
                problems.append("%s: 201 for order %s, database %s" % (
                    record["key"], order.get("id"), [r[:4] for r in rows]))
            elif {int(k): v for k, v in json.loads(row[7]).items()} != record["lines"]:
                problems.append("%s: order %s holds %s, the cart held %s" % (
                    record["key"], order["id"], row[7], record["lines"]))
        elif record["final"] in FINAL and confirmed:
            problems.append("%s: final %s but confirmed orders %s" % (
                record["key"], record["final"], [r[:4] for r in confirmed]))
        if record["final"] == 402 and record["token"] != "tok_declined":
            problems.append("%s: 402 for %s" % (record["key"], record["token"]))
        if record["final"] == 201 and record["token"] == "tok_declined":
            problems.append("%s: 201 for tok_declined" % record["key"])
    print("  %d checkouts retried: %d ended replayed (finished by the recovery), %d keys with "
          "more than one order (undone by the recovery, then checked out again)" % (
              len(retried), sum(record["replayed"] for record in retried),
              sum(len(rows) > 1 for rows in by_key.values())))
    report("final_answers_match_the_database", checkouts and not problems,
           "%d keys, %d with orders; %s" % (len(checkouts), len(by_key), "; ".join(problems[:5])))

    return summary()


if __name__ == "__main__":
    sys.exit(main())
