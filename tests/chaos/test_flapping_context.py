#!/usr/bin/env python3
"""Chaos: a context that keeps failing to start is held down alone, with the
shipped supervisor settings, and comes back by itself after its cool-down.

Against the test environment (scripts/testenv.sh start; . var/test/env.sh),
whose supervisor runs with the defaults of etc/comptoir.cfg. The inventory
context runs one process (inventory-1). Each time the supervisor starts it,
this test kills it with SIGKILL within a few milliseconds: a failed start
(the first kill, of a process that had been up a while, costs nothing).
After supervisor/restart_intensity (5) failed starts within
restart_period_s (30 s), the next one makes the supervisor hold the process
down for cooldown_s (30 s). Meanwhile:
  - the inventory routes answer 503 service_unavailable with Retry-After;
  - /ready answers 503, names the inventory context as missing and
    inventory-1 as held;
  - the admin /metrics shows comptoir_supervisor_process_held 1 for it, and
    the supervisor's log says why;
  - the catalog and the carts keep answering 200: nothing else stopped.
Then, after the cool-down, the supervisor starts it again and the system is
ready again without anyone's help.

Prints PASS:/FAIL: lines and `N passed, N failed`; exits 77 (skip) without
the test environment.
"""
import http.client
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chaoslib import Client, hold_down, report, summary, supervised, wait_for  # noqa: E402

PROCESS = "inventory-1"
FAILED_STARTS_TO_HOLD = 6           #   restart_intensity (5) + 1
COOLDOWN_S = 30                     #   supervisor/cooldown_s


def raw_get(edge, key, path):
    """(status, Retry-After, body) of one GET on a connection of its own."""
    url = urllib.parse.urlparse(edge)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request("GET", path, headers={"X-API-Key": key})
        response = conn.getresponse()
        return response.status, response.getheader("Retry-After"), response.read()
    finally:
        conn.close()


def main():
    edge = os.environ.get("COMPTOIR_TEST_EDGE")
    admin = os.environ.get("COMPTOIR_TEST_ADMIN")
    key = os.environ.get("COMPTOIR_TEST_API_KEY")
    status_path = os.environ.get("COMPTOIR_TEST_SUPERVISOR_STATUS")
    var = os.environ.get("COMPTOIR_TEST_VAR")
    if not (edge and admin and key and status_path and var):
        print("SKIP: the test environment's variables are not set (. var/test/env.sh)")
        return 77
    client = Client(edge, key)
    admin_client = Client(admin, key)

    ready = wait_for(lambda: client.call("GET", "/ready")[0] == 200, 60, 0.5)
    report("system_ready_before", ready)
    children = supervised(status_path)
    report("inventory_runs_one_process", PROCESS in children and children[PROCESS][0] > 0
           and children[PROCESS][2] == "running", str(children.get(PROCESS)))
    if not ready or PROCESS not in children:
        return summary()

    #  Kill every new start of the process at once, until it is held.
    held, killed = hold_down(status_path, PROCESS)
    held_at = time.monotonic()
    report("held_after_too_many_failed_starts", held is not None and held[0] == 0 and held[1] == 1,
           "%d kills, %s" % (len(killed), held))
    #  The first kill ends a run that had started well: free of charge.
    report("held_after_restart_intensity_plus_one_failed_starts",
           len(killed) == 1 + FAILED_STARTS_TO_HOLD, "%d kills" % len(killed))
    if held is None:
        return summary()

    #  Its routes: 503 with Retry-After (the broker waits no_worker_wait_ms).
    code, retry_after, body = raw_get(edge, key, "/api/v1/locations")
    error = json.loads(body or b"{}").get("error", {})
    report("held_context_routes_answer_503_with_retry_after",
           code == 503 and error.get("code") == "service_unavailable" and retry_after is not None,
           "%d Retry-After %s %s" % (code, retry_after, body[:200]))

    #  /ready names it; the metrics and the log say so.
    def ready_view():
        code, body = client.call("GET", "/ready")
        view = json.loads(body or b"{}")
        if code == 503 and "inventory" in view.get("missing", []) and PROCESS in view.get("held", []):
            return view
        return None
    view = wait_for(ready_view, 5, 0.2)
    report("ready_names_the_held_context", view is not None, str(view))
    code, body = admin_client.call("GET", "/metrics")
    line = 'comptoir_supervisor_process_held{process="%s"} 1' % PROCESS
    report("metrics_show_the_hold", code == 200 and line in body.decode("utf-8", "replace"),
           "%d" % code)
    with open(os.path.join(var, "log", "supervisor.log"), encoding="utf-8", errors="replace") as log:
        said = any("holding %s down" % PROCESS in entry for entry in log)
    report("supervisor_log_says_why", said)

    #  Everything else keeps serving.
    others = []
    for _ in range(20):
        others.append(client.call("GET", "/api/v1/products?per_page=5")[0])
        others.append(client.call("POST", "/api/v1/carts", {"province": "QC"})[0])
    report("other_contexts_keep_serving", all(code in (200, 201) for code in others),
           str(sorted(set(others))))
    report("supervisor_still_running", supervised(status_path)["broker"][2] == "running")

    #  Not restarted during the cool-down, then back by itself.
    early = supervised(status_path)[PROCESS]
    if time.monotonic() - held_at < COOLDOWN_S - 5:
        report("not_restarted_during_the_cool_down", early[0] == 0 and early[2] == "held", str(early))
    back = wait_for(lambda: supervised(status_path)[PROCESS][2] == "running"
                    and client.call("GET", "/ready")[0] == 200, COOLDOWN_S + 30, 0.5)
    waited = time.monotonic() - held_at
    report("back_by_itself_after_the_cool_down", bool(back) and waited >= COOLDOWN_S - 1,
           "%.1f s after the hold" % waited)
    code, _ = client.call("GET", "/api/v1/locations")
    report("its_routes_answer_again", code == 200, str(code))
    return summary()


if __name__ == "__main__":
    sys.exit(main())
