#!/usr/bin/env python3
"""Chaos: product workers are killed with SIGKILL under load; no request fails.

Against the test environment (scripts/testenv.sh start; . var/test/env.sh):
several threads read products through the edge over keep-alive connections
for DURATION seconds while, every KILL_EVERY seconds, one product worker
process is killed with SIGKILL (its pid read from the supervisor's status
file). The supervisor restarts it; the broker hands the requests the dead
worker held to the other worker. Every response must be a 200 with the
product that was asked for, and the status file must show the restarts.

Only the standard library; prints PASS:/FAIL: lines and `N passed, N failed`.
Exits 77 (skip) without the test environment's variables.
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

DURATION = float(os.environ.get("COMPTOIR_CHAOS_SECONDS", "20"))
KILL_EVERY = 2.0
THREADS = 6


def product_workers(path):
    return workers(path, "product-")


def main():
    edge = os.environ.get("COMPTOIR_TEST_EDGE")
    key = os.environ.get("COMPTOIR_TEST_API_KEY")
    status_path = os.environ.get("COMPTOIR_TEST_SUPERVISOR_STATUS")
    if not (edge and key and status_path and os.path.exists(status_path)):
        print("chaos: no test environment (scripts/testenv.sh start; . var/test/env.sh): skipped")
        print("0 passed, 0 failed")
        return 77

    # The products to read: the first page of the catalog.
    client = Client(edge, key)
    status, body = client.call("GET", "/api/v1/products?per_page=20")
    products = []
    if status == 200:
        products = [item["id"] for item in json.loads(body).get("data", []) if "id" in item]
    report("catalog_has_products", status == 200 and len(products) > 0,
           "status %d, %d products" % (status, len(products)))
    if not products:
        return summary()

    workers = product_workers(status_path)
    report("two_product_workers_running",
           len(workers) >= 2 and all(pid > 0 for pid, _ in workers.values()),
           str(workers))
    restarts_before = sum(restarts for _, restarts in workers.values())

    stop = threading.Event()
    lock = threading.Lock()
    counts = {"ok": 0, "failed": 0, "reconnects": 0}
    failures = []

    def load(seed):
        rng = random.Random(seed)
        mine = Client(edge, key)
        while not stop.is_set():
            product_id = rng.choice(products)
            try:
                status, body = mine.call("GET", "/api/v1/products/%d" % product_id)
                ok = status == 200 and json.loads(body).get("id") == product_id
                problem = "status %d: %s" % (status, body[:200]) if not ok else ""
            except Exception as error:  # noqa: BLE001 - every failure counts
                ok, problem = False, "%s: %s" % (type(error).__name__, error)
            with lock:
                if ok:
                    counts["ok"] += 1
                else:
                    counts["failed"] += 1
                    if len(failures) < 10:
                        failures.append("product %d: %s" % (product_id, problem))
        with lock:
            counts["reconnects"] += mine.retries

    threads = [threading.Thread(target=load, args=(n,), daemon=True) for n in range(THREADS)]
    for thread in threads:
        thread.start()

    # Kill a worker every KILL_EVERY seconds, in turn, only while its sibling
    # is up (the test proves failover, not an empty service).
    kills = 0
    kill_errors = []
    start = time.monotonic()
    turn = 0
    next_kill = start + KILL_EVERY
    while time.monotonic() - start < DURATION:
        time.sleep(0.05)
        if time.monotonic() < next_kill:
            continue
        next_kill += KILL_EVERY
        workers = product_workers(status_path)
        names = sorted(workers)
        if not names:
            continue
        name = names[turn % len(names)]
        turn += 1
        pid = workers[name][0]
        others_up = [other for other in names if other != name and workers[other][0] > 0]
        if pid <= 0 or not others_up or not alive(pid):
            continue
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

    # Give the supervisor time to notice the last victim and bring it back:
    # right after a kill the status file still names the dead pid, so wait
    # for the restart count and for live processes, not only for pids.
    deadline = time.monotonic() + 10
    while True:
        workers = product_workers(status_path)
        restarts_after = sum(restarts for _, restarts in workers.values())
        settled = (restarts_after - restarts_before >= kills and workers
                   and all(pid > 0 and alive(pid) for pid, _ in workers.values()))
        if settled or time.monotonic() >= deadline:
            break
        time.sleep(0.1)

    total = counts["ok"] + counts["failed"]
    report("load_ran", total > 100, "%d requests in %.0f s" % (total, DURATION))
    report("workers_were_killed", kills >= int(DURATION / KILL_EVERY) - 2 and not kill_errors,
           "%d kills %s" % (kills, "; ".join(kill_errors)))
    report("zero_failed_requests", counts["failed"] == 0,
           "%d ok, %d failed, %d keep-alive reconnects%s" % (counts["ok"], counts["failed"],
                                                              counts["reconnects"],
                                   ("; " + " | ".join(failures)) if failures else ""))
    report("supervisor_restarted_the_workers", restarts_after - restarts_before >= kills > 0,
           "restarts %d -> %d for %d kills" % (restarts_before, restarts_after, kills))
    report("all_workers_back", bool(workers) and all(pid > 0 for pid, _ in workers.values()),
           str(workers))
    return summary()


if __name__ == "__main__":
    sys.exit(main())
