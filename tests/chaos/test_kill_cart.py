#!/usr/bin/env python3
"""Chaos: cart workers are killed with SIGKILL under steady mixed cart
traffic; no request fails and no acknowledged change is lost or doubled.

Against the test environment (scripts/testenv.sh start; . var/test/env.sh)
with the cart routes in the edge's route table: THREADS threads, each with
carts of its own, add items, set quantities and read their carts through
the edge (about RATE requests per second in all) for DURATION seconds
(COMPTOIR_CHAOS_SECONDS, default 60 as the issue asks) while, every
KILL_EVERY seconds, one cart worker process is killed with SIGKILL (its pid
read from the supervisor's status file). The supervisor restarts it; the
broker hands the requests the dead worker held to another worker (the cart
routes are retryable), and the cart context's stored replies make a resent
write apply once. Each thread knows what its acknowledged writes must have
left, so at the end every cart must hold exactly that: nothing lost, nothing
applied twice. A request that failed on the wire is sent again with the same
X-Request-ID, as a careful client would, which the context also deduplicates.

Prints PASS:/FAIL: lines and `N passed, N failed`. Exits 77 (skip) without
the test environment, and prints SKIP (0 passed, 0 failed) while the edge
does not serve the cart routes.
"""
import json
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chaoslib import Client, alive, report, summary, workers  # noqa: E402

DURATION = float(os.environ.get("COMPTOIR_CHAOS_SECONDS", "60"))
KILL_EVERY = 2.0
THREADS = 6
RATE = 300
CARTS_PER_THREAD = 4


def cart_workers(path):
    return workers(path, "cart-")


def main():
    edge = os.environ.get("COMPTOIR_TEST_EDGE")
    key = os.environ.get("COMPTOIR_TEST_API_KEY")
    status_path = os.environ.get("COMPTOIR_TEST_SUPERVISOR_STATUS")
    if not (edge and key and status_path and os.path.exists(status_path)):
        print("chaos: no test environment (scripts/testenv.sh start; . var/test/env.sh): skipped")
        print("0 passed, 0 failed")
        return 77
    client = Client(edge, key)
    status, _ = client.call("POST", "/api/v1/carts", {})
    if status == 404:
        print("SKIP: kill_cart (the edge has no cart routes yet)")
        print("0 passed, 0 failed")
        return 0
    status, body = client.call("GET", "/api/v1/products?per_page=5")
    products = [item["id"] for item in json.loads(body).get("data", [])] if status == 200 else []
    report("catalog_has_products", len(products) >= 3, "status %d, %d products" % (status, len(products)))
    workers = cart_workers(status_path)
    report("three_cart_workers_running",
           len(workers) >= 3 and all(pid > 0 for pid, _ in workers.values()), str(workers))
    if len(products) < 3 or len(workers) < 2:
        return summary()
    products = products[:3]
    restarts_before = sum(restarts for _, restarts in workers.values())

    stop = threading.Event()
    lock = threading.Lock()
    counts = {"ok": 0, "failed": 0, "reconnects": 0, "writes": 0}
    failures = []
    expected = {}                       # cart id -> {product id: quantity}

    def load(seed):
        rng = random.Random(seed)
        mine = Client(edge, key)
        carts = {}
        for _ in range(CARTS_PER_THREAD):
            status, body = mine.call("POST", "/api/v1/carts", {})
            if status == 201:
                carts[json.loads(body)["id"]] = {}
        interval = THREADS / RATE
        next_at = time.monotonic()
        while not stop.is_set():
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if not carts:
                break
            cart = rng.choice(list(carts))
            product = rng.choice(products)
            lines = carts[cart]
            roll = rng.random()
            try:
                if roll < 0.6 and lines.get(product, 0) < 990:
                    status, body = mine.call("POST", "/api/v1/carts/%s/items" % cart,
                                             {"product_id": product, "quantity": 1})
                    ok = status == 201
                    if ok:
                        lines[product] = lines.get(product, 0) + 1
                elif roll < 0.75:
                    quantity = rng.randint(0, 5)
                    status, body = mine.call("PUT", "/api/v1/carts/%s/items/%d" % (cart, product),
                                             {"quantity": quantity})
                    # 404: the product was not in the cart (nothing changed)
                    ok = status == 200 or (status == 404 and product not in lines)
                    if status == 200:
                        if quantity:
                            lines[product] = quantity
                        else:
                            lines.pop(product, None)
                else:
                    status, body = mine.call("GET", "/api/v1/carts/%s" % cart)
                    ok = status == 200
                problem = "" if ok else "status %d: %s" % (status, body[:200])
            except Exception as error:  # noqa: BLE001 - every failure counts
                ok, problem = False, "%s: %s" % (type(error).__name__, error)
            with lock:
                counts["ok" if ok else "failed"] += 1
                if not ok and len(failures) < 10:
                    failures.append(problem)
        with lock:
            counts["reconnects"] += mine.retries
            expected.update(carts)

    threads = [threading.Thread(target=load, args=(n,), daemon=True) for n in range(THREADS)]
    for thread in threads:
        thread.start()

    kills = 0
    kill_errors = []
    rng = random.Random(42)
    start = time.monotonic()
    next_kill = start + KILL_EVERY
    while time.monotonic() - start < DURATION:
        time.sleep(0.05)
        if time.monotonic() < next_kill:
            continue
        next_kill += KILL_EVERY
        workers = cart_workers(status_path)
        up = [name for name, (pid, _) in workers.items() if pid > 0 and alive(pid)]
        if len(up) < 2:
            continue                    # never the last one: failover, not an empty service
        pid = workers[rng.choice(up)][0]
        try:
            os.kill(pid, signal.SIGKILL)
            kills += 1
        except ProcessLookupError:
            pass
        except OSError as error:
            kill_errors.append(str(error))
    stop.set()
    for thread in threads:
        thread.join(timeout=15)

    deadline = time.monotonic() + 10
    while True:
        workers = cart_workers(status_path)
        restarts_after = sum(restarts for _, restarts in workers.values())
        settled = (restarts_after - restarts_before >= kills and workers
                   and all(pid > 0 and alive(pid) for pid, _ in workers.values()))
        if settled or time.monotonic() >= deadline:
            break
        time.sleep(0.1)

    # Every cart holds exactly what its acknowledged writes left.
    mismatches = []
    for cart, lines in expected.items():
        status, body = client.call("GET", "/api/v1/carts/%s" % cart)
        held = {}
        if status == 200:
            held = {line["product_id"]: line["quantity"] for line in json.loads(body)["items"]}
        if status != 200 or held != lines:
            mismatches.append("%s: expected %s, holds %s (status %d)" % (cart[:8], lines, held, status))

    total = counts["ok"] + counts["failed"]
    report("load_ran", total > DURATION * RATE / 3, "%d requests in %.0f s" % (total, DURATION))
    report("workers_were_killed", kills >= int(DURATION / KILL_EVERY) - 2 and not kill_errors,
           "%d kills %s" % (kills, "; ".join(kill_errors)))
    report("zero_failed_requests", counts["failed"] == 0,
           "%d ok, %d failed, %d resent on the wire%s" % (
               counts["ok"], counts["failed"], counts["reconnects"],
               ("; " + " | ".join(failures)) if failures else ""))
    report("every_acknowledged_change_is_there_once", expected and not mismatches,
           "%d carts checked%s" % (len(expected), ("; " + " | ".join(mismatches[:5])) if mismatches else ""))
    report("supervisor_restarted_the_workers", restarts_after - restarts_before >= kills > 0,
           "restarts %d -> %d for %d kills" % (restarts_before, restarts_after, kills))
    return summary()


if __name__ == "__main__":
    sys.exit(main())
