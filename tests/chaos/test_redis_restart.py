#!/usr/bin/env python3
"""Chaos: the carts' Redis is stopped and started again under load.

Against the test environment (scripts/testenv.sh start; . var/test/env.sh).
THREADS threads add items to carts of their own through the edge, steadily,
for the whole run. After WARMUP seconds the test environment's Redis is
stopped with SIGTERM (a restart: it writes its append-only file and exits),
stays away for DOWN seconds, and is started again from the same folder and
configuration. The issue asks three things, each checked here:

- while Redis is away, cart requests fail fast: every answer is a 503
  service_unavailable with Retry-After, within FAST_MS, never a hang;
- they recover by themselves: a 201 comes back within RECOVER_S of Redis
  being started again, with no process restarted;
- no cart is lost: every cart made before the stop is still there, and
  each holds exactly the quantity its acknowledged additions add up to.
  A client that got a 503 (or nothing) sends the same addition again with
  the same X-Request-ID until it is acknowledged, as a careful client
  would; the cart context stores each write's answer under its request id,
  so a repeat of a write that did go through is not applied twice.

Prints PASS:/FAIL: lines and `N passed, N failed`; exits 77 without the test
environment.
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chaoslib import report, summary  # noqa: E402

THREADS = 4
CARTS_PER_THREAD = 3
WARMUP = 4.0
DOWN = 4.0
AFTER = 4.0
FAST_MS = 1000
RECOVER_S = 5.0
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))



class Client:
    """One keep-alive connection to the edge, reopened after a failure."""

    def __init__(self, base, key):
        self.host, self.port = base.split("//", 1)[1].split(":")
        self.key = key
        self.conn = None

    def request(self, method, path, body=None, rid=None):
        headers = {"X-API-Key": self.key, "X-Request-ID": rid or uuid.uuid4().hex}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        started = time.monotonic()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, int(self.port), timeout=10)
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            payload = response.read()
            elapsed = (time.monotonic() - started) * 1000
            text = payload.decode() if payload else ""
            return response.status, dict(response.getheaders()), (json.loads(text) if text else None), elapsed
        except (OSError, http.client.HTTPException, ValueError):
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return None, {}, None, (time.monotonic() - started) * 1000


class Shared:
    def __init__(self):
        self.lock = threading.Lock()
        self.phase = "before"           # before, down, after
        self.stop = False
        self.down_answers = []          # (status, code, ms, retry_after) while Redis is away
        self.wrong = []                 # answers that are neither 2xx nor a proper 503
        self.first_ok_after = None      # monotonic time of the first 201 after the restart


def worker(shared, client, carts, product, acked):
    index = 0
    while not shared.stop:
        cart = carts[index % len(carts)]
        index += 1
        rid = uuid.uuid4().hex
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status, headers, body, elapsed = client.request(
                "POST", "/api/v1/carts/%s/items" % cart, {"product_id": product, "quantity": 1}, rid)
            phase = shared.phase
            with shared.lock:
                if phase == "down" and status is not None:
                    code = (body or {}).get("error", {}).get("code") if status >= 400 else None
                    shared.down_answers.append((status, code, elapsed, headers.get("Retry-After")))
                if status is not None and status not in (200, 201, 503):
                    shared.wrong.append((status, body))
                if status == 201 and phase == "after" and shared.first_ok_after is None:
                    shared.first_ok_after = time.monotonic()
            if status in (200, 201):
                acked[cart] = acked.get(cart, 0) + 1
                break
            time.sleep(0.05)
        else:
            with shared.lock:
                shared.wrong.append(("never acknowledged", rid))
        time.sleep(0.01)


def redis_pid(folder):
    with open(os.path.join(folder, "redis.pid"), encoding="utf-8") as pid:
        return int(pid.read().strip())


def redis_ping(port):
    done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "ping"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() == "PONG"


def main():
    base = os.environ.get("COMPTOIR_TEST_EDGE")
    key = os.environ.get("COMPTOIR_TEST_API_KEY")
    var = os.environ.get("COMPTOIR_TEST_VAR")
    address = os.environ.get("COMPTOIR_TEST_REDIS")
    if not (base and key and var and address):
        print("SKIP: no test environment (scripts/testenv.sh start; . var/test/env.sh)")
        return 77
    port = int(address.rsplit(":", 1)[1])
    folder = os.path.join(var, "redis")
    log = os.path.join(var, "log", "redis.log")

    setup = Client(base, key)
    status, _, body, _ = setup.request("GET", "/api/v1/products?per_page=1")
    assert status == 200 and body["data"], (status, body)
    product = body["data"][0]["id"]
    shared = Shared()
    threads, carts_of, acked_of = [], [], []
    for _ in range(THREADS):
        carts = []
        for _ in range(CARTS_PER_THREAD):
            status, _, body, _ = setup.request("POST", "/api/v1/carts", {"province": "QC"})
            assert status == 201, (status, body)
            carts.append(body["id"])
        acked = {}
        carts_of.append(carts)
        acked_of.append(acked)
        thread = threading.Thread(target=worker, args=(shared, Client(base, key), carts, product, acked))
        thread.start()
        threads.append(thread)

    time.sleep(WARMUP)
    pid = redis_pid(folder)
    with shared.lock:
        shared.phase = "down"
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    time.sleep(DOWN)
    with shared.lock:
        shared.phase = "after"
    back_at = time.monotonic()
    started = subprocess.run(["bash", "-c", '. "$0/scripts/redis.sh" && redis_start "$1" "$2" "$3"',
                              ROOT, folder, str(port), log], capture_output=True, text=True, check=False)
    time.sleep(AFTER)
    shared.stop = True
    for thread in threads:
        thread.join(60)

    report("redis_started_again", started.returncode == 0 and redis_ping(port), started.stderr.strip())
    down = shared.down_answers
    refused = [a for a in down if a[0] == 503]
    proper = [a for a in refused if a[1] == "service_unavailable" and a[3]]
    slowest = max((a[2] for a in down), default=0)
    report("redis_away_answers_503_fast",
           len(refused) >= 10 and len(proper) == len(refused) and slowest < FAST_MS
           and all(a[0] in (201, 503) for a in down),
           "%d answers while away, %d of them 503 with Retry-After, slowest %.0f ms"
           % (len(down), len(proper), slowest))
    recovered = shared.first_ok_after is not None and shared.first_ok_after - back_at < RECOVER_S
    report("carts_recover_by_themselves", recovered,
           "first 201 %.2f s after Redis was started again" % ((shared.first_ok_after or 0) - back_at)
           if shared.first_ok_after else "no 201 after the restart")
    report("no_unexpected_answers", not shared.wrong, repr(shared.wrong[:5]))

    lost, total = [], 0
    for carts, acked in zip(carts_of, acked_of):
        for cart in carts:
            status, _, body, _ = setup.request("GET", "/api/v1/carts/" + cart)
            quantity = 0
            if status == 200:
                quantity = sum(line["quantity"] for line in body["items"] if line["product_id"] == product)
            total += acked.get(cart, 0)
            if status != 200 or quantity != acked.get(cart, 0):
                lost.append((cart[:8], status, quantity, acked.get(cart, 0)))
    report("every_acknowledged_addition_is_there_once", not lost and total > 0,
           "%d additions acknowledged in %d carts; wrong: %r" % (total, THREADS * CARTS_PER_THREAD, lost[:5]))

    return summary()


if __name__ == "__main__":
    sys.exit(main())
