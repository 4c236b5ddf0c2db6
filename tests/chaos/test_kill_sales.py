#!/usr/bin/env python3
"""Chaos: gapless receipts while sales workers are killed with SIGKILL.

Against the test environment, started with a short sales recovery:
  COMPTOIR_TEST_SETTINGS="sales/recover_after_s=3 sales/recover_interval_ms=500" \\
      scripts/testenv.sh start ; . var/test/env.sh
SALES sales are rung up at the Vancouver store (store 3) by THREADS cashier
threads on both of its registers, in rounds: every KILL_EVERY seconds each
thread starts a sale and one of the sales processes (its pid from the
supervisor's status file) is killed among them with SIGKILL; the supervisor
restarts it. Each sale has its own Idempotency-Key, one or two lines of two
fresh products with plenty of stock there, paid in cash, by card or both,
and about one in eight with the declined card. A sale is
not retryable at the edge: a request a killed worker held answers 503 (or
504), and the thread sends the same key and body again after a short pause,
as a till would, until a final answer (201, 402) or SALE_BOUND_S. A repeat
meets 409 idempotency_key_in_use while the sale is unfinished, then either
the stored 201 or, once the recovery sweep gave the stock back and let the
key go, a new sale.

After the traffic and the recovery:
- the store's receipt numbers are 1..N with no gap and no duplicate, N the
  store's completed sales, and its counter is N + 1;
- the sales of this run that completed are exactly those whose key got a
  201 (one sale per key), none is left pending;
- the stock at the store is the initial stock minus the units of the
  completed sales, and the movement journal agrees;
- no Idempotency-Key of the run is left running.

Prints PASS:/FAIL: lines and `N passed, N failed`. Exits 77 (skip) without
the test environment.
"""
import collections
import os
import random
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from client import Edge, sql, staff_headers  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chaoslib import alive, kill_one, report, summary, supervisor_status, workers  # noqa: E402

SALES = 100
THREADS = 10
KILL_EVERY = 1.0            # a round: every till starts a sale, a worker is killed in their midst
KILL_AFTER_S = (0.002, 0.03)
SALE_BOUND_S = 40.0
RETRY_PAUSE_S = 0.25
RECOVERY_WAIT_S = 30.0
STORE = 3
INITIAL = 100000
PRICE = 1000                # BC: GST 5 % + PST 7 %: 1 unit 11.20
RETRY_ON = {(503, None), (504, None), (409, "idempotency_key_in_use")}
FINAL = {201, 402}


def error_code(response):
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def classify(response):
    if response.status in (201, 402):
        return response.status
    code = error_code(response)
    return (response.status, code if response.status == 409 else None)


def fresh_products(edge, admin, location):
    categories = edge.get("/api/v1/categories").json()["data"]
    products = []
    for n in range(2):
        response = edge.request("POST", "/api/v1/products", headers=admin,
                                body={"name": "Chaos caisse %d %s" % (n, uuid.uuid4().hex[:8]),
                                      "price_cents": PRICE, "cost_cents": 400,
                                      "category_id": categories[0]["id"]})
        assert response.status == 201, response
        products.append(response.json()["id"])
        response = edge.request("POST", "/api/v1/inventory/adjustments", headers=admin,
                                body={"product_id": products[-1], "location_id": location,
                                      "delta": INITIAL, "reason": "receipt"})
        assert response.status == 201, response
    return products


def open_registers(edge, headers):
    registers = [r for r in edge.get("/api/v1/registers", headers=headers).json()["data"]
                 if r["store_id"] == STORE]
    for register in registers:
        if register["session"]:
            response = edge.request("POST", "/api/v1/registers/%d/close" % register["id"],
                                    headers=headers, body={"counted_cash_cents": 0})
            assert response.status == 200, response
        response = edge.request("POST", "/api/v1/registers/%d/open" % register["id"], headers=headers,
                                body={"opening_float_cents": 0})
        assert response.status == 201, response
    return [register["id"] for register in registers]


def total_of(units):
    net = units * PRICE
    return net + (net * 5000 + 50000) // 100000 + (net * 7000 + 50000) // 100000


class Till(threading.Thread):
    """Rings up its share of the sales, each to a final answer."""

    def __init__(self, edge, headers, registers, products, run, count, seed, rounds):
        super().__init__(daemon=True)
        self.rounds = rounds
        self.edge, self.headers, self.registers, self.products = edge, headers, registers, products
        self.run_id, self.count, self.rng = run, count, random.Random(seed)
        self.sales, self.errors = [], []

    def sale_body(self):
        lines = [{"product_id": product, "quantity": self.rng.randint(1, 3)}
                 for product in self.rng.sample(self.products, self.rng.randint(1, 2))]
        total = total_of(sum(line["quantity"] for line in lines))
        kind = self.rng.random()
        if kind < 1 / 8:
            payments = [{"method": "credit_card", "amount_cents": total, "card_token": "tok_declined"}]
        elif kind < 0.5:
            payments = [{"method": "cash", "amount_cents": total + 500}]
        else:
            payments = [{"method": "debit_card", "amount_cents": total // 2},
                        {"method": "cash", "amount_cents": total - total // 2}]
        return {"register_id": self.rng.choice(self.registers), "items": lines, "payments": payments}

    def run(self):
        for _ in range(self.count):
            self.rounds.wait()
            key = "%s-%s" % (self.run_id, uuid.uuid4().hex[:12])
            body = self.sale_body()
            record = {"key": key, "answers": [], "final": None, "sale": None,
                      "units": {line["product_id"]: line["quantity"] for line in body["items"]}}
            started = time.monotonic()
            while time.monotonic() - started < SALE_BOUND_S:
                try:
                    response = self.edge.request("POST", "/api/v1/sales", body=body,
                                                 headers=dict(self.headers, **{"Idempotency-Key": key}))
                except Exception as error:  # noqa: BLE001 - the edge is not killed: a failure
                    self.errors.append("%s: %s" % (key, error))
                    break
                kind = classify(response)
                record["answers"].append(kind)
                if kind in FINAL:
                    record["final"] = kind
                    if kind == 201:
                        record["sale"] = response.json()
                    break
                if kind not in RETRY_ON:
                    self.errors.append("%s: unexpected %r" % (key, response))
                    break
                time.sleep(RETRY_PAUSE_S)
            self.sales.append(record)


def main():
    status_path = supervisor_status()
    if not status_path:
        return 77
    edge = Edge()
    admin = staff_headers(edge, "admin")
    cashier = staff_headers(edge, "cashier", STORE)
    location = [l["id"] for l in edge.get("/api/v1/locations").json()["data"]
                if l["type"] == "store" and l.get("store_id") == STORE][0]
    products = fresh_products(edge, admin, location)
    registers = open_registers(edge, cashier)
    sales_workers = workers(status_path, "sales-")
    report("sales_workers_running", len(sales_workers) >= 1
           and all(alive(pid) for pid, _ in sales_workers.values()), str(sales_workers))
    run_id = "chaos-sales-" + uuid.uuid4().hex[:8]
    rounds = threading.Barrier(THREADS + 1)
    tills = [Till(edge, cashier, registers, products, run_id, SALES // THREADS, n * 7919 + 3, rounds)
             for n in range(THREADS)]
    for till in tills:
        till.start()

    #  Each round the tills start a sale together (a till still retrying an
    #  interrupted one joins when it is done), and a worker dies among them.
    kills, kill_errors, rng = 0, [], random.Random(8)
    for _ in range(SALES // THREADS):
        rounds.wait()
        time.sleep(rng.uniform(*KILL_AFTER_S))
        killed, error = kill_one(status_path, "sales-", rng)
        kills += killed
        if error:
            kill_errors.append(error)
        time.sleep(KILL_EVERY)
    for till in tills:
        till.join()

    #  The recovery: nothing of this run left pending
    keys_clause = "idem_key LIKE '%s-%%'" % run_id
    waited = time.monotonic()
    while time.monotonic() - waited < RECOVERY_WAIT_S:
        left = sql("sales", "SELECT count (*) FROM sales WHERE %s AND status IN ('pending', 'voiding')"
                            % keys_clause)[0][0]
        running = sql("sales", "SELECT count (*) FROM idempotency_keys WHERE key LIKE '%s-%%' "
                               "AND status = 'running'" % run_id)[0][0]
        if left == "0" and running == "0":
            break
        time.sleep(0.25)

    records = [record for till in tills for record in till.sales]
    errors = [error for till in tills for error in till.errors]
    answers = collections.Counter(str(kind) for record in records for kind in record["answers"])
    interrupted = sum(1 for record in records for kind in record["answers"]
                      if kind in ((503, None), (504, None)))
    print("  %d kills, %d sales, every answer: %s" % (kills, len(records), dict(sorted(answers.items()))))
    report("sales_processes_were_killed", kills >= 3 and not kill_errors,
           "%d kills %s" % (kills, "; ".join(kill_errors)))
    report("sales_were_interrupted", interrupted >= 1, "%d answers 503/504" % interrupted)
    report("no_client_errors", not errors, "; ".join(errors[:5]))
    stuck = [record for record in records if record["final"] not in FINAL]
    report("every_sale_reached_a_final_answer", records and not stuck,
           "; ".join("%s: %s" % (r["key"], r["answers"]) for r in stuck[:5]))

    #  Receipts: 1..N over the whole store, N its completed sales
    seqs = [int(row[0]) for row in sql("sales", "SELECT receipt_seq FROM sales WHERE store_id = %d "
                                                "AND status = 'completed' ORDER BY receipt_seq" % STORE)]
    counter = int(sql("sales", "SELECT next_receipt FROM stores WHERE id = %d" % STORE)[0][0])
    report("receipt_numbers_gapless", seqs == list(range(1, len(seqs) + 1)) and counter == len(seqs) + 1,
           "%d completed, counter %d, first gaps/duplicates: %s" % (
               len(seqs), counter,
               [s for i, s in enumerate(seqs) if s != i + 1][:5]))
    completed = {row[0]: int(row[1]) for row in sql(
        "sales", "SELECT idem_key, id FROM sales WHERE %s AND status = 'completed'" % keys_clause)}
    told = {record["key"]: record["sale"]["id"] for record in records if record["final"] == 201}
    report("completed_sales_are_those_told_201", completed == told,
           "%d completed, %d told 201; differ: %s" % (
               len(completed), len(told),
               sorted(set(completed.items()) ^ set(told.items()))[:5]))
    per_key = sql("sales", "SELECT idem_key, count (*) FROM sales WHERE %s AND status = 'completed' "
                           "GROUP BY idem_key HAVING count (*) > 1" % keys_clause)
    left = sql("sales", "SELECT id, status FROM sales WHERE %s AND status IN ('pending', 'voiding')" % keys_clause)
    running = sql("sales", "SELECT key FROM idempotency_keys WHERE key LIKE '%s-%%' AND status = 'running'"
                           % run_id)
    report("one_sale_per_key_nothing_pending", not per_key and not left and not running,
           "duplicates %s, pending %s, keys running %s" % (per_key[:3], left[:3], running[:3]))

    #  The stock at the store, and its journal
    sold = collections.Counter()
    for record in records:
        if record["final"] == 201:
            sold.update(record["units"])
    ids = ",".join(map(str, products))
    stock = {int(row[0]): int(row[1]) for row in sql(
        "inventory", "SELECT product_id, on_hand FROM stock WHERE location_id = %d AND product_id IN (%s)"
                     % (location, ids))}
    journal = {int(row[0]): int(row[1]) for row in sql(
        "inventory", "SELECT product_id, sum (delta) FROM movements WHERE location_id = %d "
                     "AND product_id IN (%s) GROUP BY product_id" % (location, ids))}
    expected = {product: INITIAL - sold[product] for product in products}
    report("stock_is_initial_minus_sold", stock == expected and journal == expected,
           "on_hand %s, journal %s, expected %s" % (stock, journal, expected))
    return summary()


if __name__ == "__main__":
    sys.exit(main())
