#!/usr/bin/env python3
"""comptoir-top against the live test environment, on a real terminal (tmux).

What a user would see, checked on the screen itself: comptoir-top runs in a
detached tmux session (200 x 50) and the test reads the pane with
capture-pane.
- The services and workers of the plan are on screen: one worker line per
  cart process (cart-1.1, cart-2.1 ...) and per product process.
- A cart worker process killed with SIGKILL (its pid from the supervisor's
  status file) leaves the screen and a new one comes back under the same
  identity once the supervisor has restarted it (a new pid). The restart
  takes about 100 ms, less than a refresh, so the line rarely vanishes
  between two of them: what the screen shows, and the test reads, is the
  event stream's worker_left and worker_ready for that identity, in that
  order, and the worker's line with an AGE younger than the kill.
- A plaintext peer (a ZMTP 3.0 greeting offering NULL, what a ZeroMQ DEALER
  without CURVE sends, written here over a raw TCP socket) shows in the
  event stream as a failed handshake with its own address and port.
- p pauses, q quits.
And for scripts: `--once --json` gives one JSON object with the same
services and workers; `--once` against a broker that does not answer exits
1 within its timeout instead of hanging.

Exits 77 (skip) without the test environment (scripts/testenv.sh start;
. var/test/env.sh) or without tmux.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chaoslib import alive, report, summary, workers  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOP = os.path.join(ROOT, "monitor", "comptoir-top")
SESSION = "comptoir-top-test-%d" % os.getpid()
#   A NULL greeting: signature, version 3.0, mechanism NULL, as-server 0, filler.
GREETING = bytes([0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 0]) + b"NULL".ljust(20, b"\0") + bytes(32)


def top_command(var, broker, extra=()):
    return [TOP, "--broker", broker, "--cert", os.path.join(var, "keys", "top"),
            "--server-key", os.path.join(var, "keys", "broker")] + list(extra)


def pane():
    """The tmux pane's text, one string per line."""
    result = subprocess.run(["tmux", "capture-pane", "-p", "-t", SESSION],
                            capture_output=True, text=True, timeout=10, check=False)
    return result.stdout.splitlines() if result.returncode == 0 else []


def wait_screen(predicate, timeout):
    """Polls the pane until predicate(lines) is true; returns the last lines
    and whether it held."""
    until = time.time() + timeout
    lines = pane()
    while time.time() < until:
        if predicate(lines):
            return lines, True
        time.sleep(0.2)
        lines = pane()
    return lines, predicate(lines)


def running(status_path, prefix):
    """The supervisor's children of a context that are running now (a
    process held down by an earlier chaos test has pid 0)."""
    return sorted(name for name, (pid, _) in workers(status_path, prefix).items()
                  if pid > 0 and alive(pid))


def worker_line(lines, identity):
    return [line for line in lines if line.startswith(identity + " ")]


def age_seconds(line):
    """The AGE column of a worker line (0m05s, 1h02m, 2d03h) in seconds."""
    age = line.split()[5]
    match = re.fullmatch(r"(\d+)([dhm])(\d+)([hms])", age)
    if not match:
        return None
    scale = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return int(match.group(1)) * scale[match.group(2)] + int(match.group(3)) * scale[match.group(4)]


def event_at(line):
    """The time of day of an event line (HH:MM:SS.mmm, local), in seconds."""
    match = re.match(r"(\d\d):(\d\d):(\d\d\.\d\d\d) ", line)
    if not match:
        return None
    return int(match.group(1)) * 3600 + int(match.group(2)) * 60 + float(match.group(3))


def happened_after(line, moment):
    """True when the event line is not older than moment (time.time())."""
    at = event_at(line)
    local = time.localtime(moment)
    since = at - (local.tm_hour * 3600 + local.tm_min * 60 + local.tm_sec + moment % 1) \
        if at is not None else None
    if since is not None and since < -43200:        # past midnight
        since += 86400
    return since is not None and since >= -0.5


def event_index(lines, kind, text, after):
    """Row of the newest event line of this kind mentioning text that
    happened after the moment given (time.time()), or None."""
    for index, line in enumerate(lines):
        if (" %s " % kind) in line and text in line and happened_after(line, after):
            return index
    return None


def plaintext_peer(broker):
    """Connects without CURVE and offers NULL; returns our address as the
    broker sees it. The pause lets the broker read the connection's ACCEPTED
    (and ask the kernel for its peer) while it is open."""
    host, port = broker.rsplit("//", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as peer:
        address = "%s:%d" % peer.getsockname()[:2]
        time.sleep(0.3)
        peer.sendall(GREETING)
        try:
            while peer.recv(256):
                pass
        except OSError:
            pass
    return address


def check_json(var, broker, status_path):
    result = subprocess.run(top_command(var, broker, ["--once", "--json"]), capture_output=True,
                            text=True, timeout=20, check=False)
    try:
        view = json.loads(result.stdout)
    except ValueError:
        report("top_once_json_parses", False, "exit %d, %r" % (result.returncode, result.stdout[:200]))
        return
    report("top_once_json_parses", result.returncode == 0 and view.get("ok") is True,
           "exit %d" % result.returncode)
    services = {item["name"]: item for item in view.get("services", [])}
    instances = {}
    for worker in view.get("workers", []):
        instances.setdefault(worker["service"], set()).add(worker["instance"])
    for context in ("cart", "product"):
        expected = set(running(status_path, context + "-"))
        report("top_json_shows_every_%s_instance" % context,
               context in services and instances.get(context) == expected,
               "%s on screen, %s running" % (sorted(instances.get(context, [])), sorted(expected)))
    cart = services.get("cart", {})
    report("top_json_has_rates_and_latencies",
           all(key in cart for key in ("rps", "p50_ms", "p99_ms", "queue", "idle", "served")),
           ", ".join(sorted(cart)))
    report("top_json_has_events", len(view.get("events", [])) > 0 and view.get("ha") == "single",
           "%d events, ha %s" % (len(view.get("events", [])), view.get("ha")))


def check_silent_broker(var):
    #   A port nobody serves: the request's deadline, then exit 1.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.time()
    result = subprocess.run(top_command(var, "tcp://127.0.0.1:%d" % port, ["--once", "--timeout", "700"]),
                            capture_output=True, text=True, timeout=20, check=False)
    elapsed = time.time() - started
    report("top_once_without_broker_exits_1_quickly",
           result.returncode == 1 and elapsed < 5 and "does not answer" in result.stderr,
           "exit %d after %.1f s: %s" % (result.returncode, elapsed, result.stderr.strip()[:120]))


def check_screen(var, broker, status_path):
    command = " ".join("'%s'" % part for part in top_command(var, broker, ["--interval", "0.5"]))
    subprocess.run(["tmux", "new-session", "-d", "-s", SESSION, "-x", "200", "-y", "50", command],
                   check=True, timeout=10)
    carts = running(status_path, "cart-")
    products = running(status_path, "product-")
    every = [name + ".1" for name in carts + products]
    lines, ok = wait_screen(lambda lines: all(worker_line(lines, identity) for identity in every)
                            and any(line.startswith("cart ") for line in lines), 15)
    report("top_screen_shows_cart_and_product_workers", ok and len(carts) >= 2,
           "%d cart, %d product processes; %s" % (len(carts), len(products),
                                                 "" if ok else "\n".join(lines[:40])))
    if not ok or len(carts) < 2:
        return

    victim = carts[1]
    identity = victim + ".1"
    pid = workers(status_path, "cart-")[victim][0]
    #   Old enough that a new incarnation's AGE is told apart.
    wait_screen(lambda lines: worker_line(lines, identity)
                and (age_seconds(worker_line(lines, identity)[0]) or 0) >= 2, 5)
    os.kill(pid, signal.SIGKILL)
    killed = time.time()
    left = "%s of cart: " % identity
    lines, gone = wait_screen(lambda lines: event_index(lines, "worker_left", left, killed) is not None, 10)
    report("top_screen_killed_worker_leaves", gone,
           "%s (pid %d) left after %.1f s: %s" % (identity, pid, time.time() - killed,
                                                  "" if not gone else
                                                  lines[event_index(lines, "worker_left", left, killed)].strip()))

    def returned(lines):
        now = workers(status_path, "cart-").get(victim, (0, 0))[0]
        rows = worker_line(lines, identity)
        ready = event_index(lines, "worker_ready", identity + " for cart", killed)
        gone_row = event_index(lines, "worker_left", left, killed)
        return (bool(rows) and age_seconds(rows[0]) is not None
                and age_seconds(rows[0]) <= time.time() - killed + 1
                and ready is not None and (gone_row is None or ready < gone_row)
                and now not in (0, pid) and alive(now))
    lines, back = wait_screen(returned, 30)
    rows = worker_line(lines, identity)
    report("top_screen_restarted_worker_returns", back,
           "%s back after %.1f s as pid %d: %s" % (identity, time.time() - killed,
                                                  workers(status_path, "cart-").get(victim, (0, 0))[0],
                                                  rows[0] if rows else "no line"))

    started = time.time()
    address = plaintext_peer(broker)
    lines, seen = wait_screen(lambda lines: event_index(lines, "handshake_failed_protocol", address,
                                                        started) is not None, 10)
    report("top_screen_shows_plaintext_peer_as_failed_handshake", seen,
           address + ("" if seen else "\n" + "\n".join(lines[-12:])))

    subprocess.run(["tmux", "send-keys", "-t", SESSION, "p"], check=False, timeout=10)
    lines, paused = wait_screen(lambda lines: bool(lines) and "[paused]" in lines[0], 5)
    report("top_screen_p_pauses", paused)
    subprocess.run(["tmux", "send-keys", "-t", SESSION, "q"], check=False, timeout=10)
    until = time.time() + 5
    while time.time() < until and subprocess.run(["tmux", "has-session", "-t", SESSION],
                                                 capture_output=True, check=False).returncode == 0:
        time.sleep(0.1)
    report("top_screen_q_quits", subprocess.run(["tmux", "has-session", "-t", SESSION],
                                                capture_output=True, check=False).returncode != 0)


def main():
    broker = os.environ.get("COMPTOIR_TEST_BROKER")
    var = os.environ.get("COMPTOIR_TEST_VAR")
    status_path = os.environ.get("COMPTOIR_TEST_SUPERVISOR_STATUS")
    if not (broker and var and status_path and os.path.exists(status_path)):
        print("top: no test environment (scripts/testenv.sh start; . var/test/env.sh): skipped")
        print("0 passed, 0 failed")
        return 77
    if not shutil.which("tmux"):
        print("top: tmux is not installed (scripts/deps.sh lists it for check.sh): skipped")
        print("0 passed, 0 failed")
        return 77
    if not os.access(TOP, os.X_OK):
        report("top_is_built", False, TOP + " is missing: run make")
        return summary()
    try:
        check_json(var, broker, status_path)
        check_silent_broker(var)
        check_screen(var, broker, status_path)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True, check=False)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
