"""What every chaos test needs: the PASS:/FAIL: lines, the supervisor's view
of its children (to find a worker's pid and see it restarted), and a client
that tells a request the server failed from a keep-alive connection it
closed.

Not a test itself (check.sh runs tests/chaos/test_*.py only).
"""
import http.client
import json
import urllib.parse
import uuid

RESULTS = []


def report(name, ok, detail=""):
    """One PASS:/FAIL: line; RESULTS keeps the verdicts for the summary."""
    RESULTS.append(ok)
    print(("PASS: " if ok else "FAIL: ") + name + (" (" + detail + ")" if detail else ""),
          flush=True)


def summary():
    """Prints `N passed, N failed` and returns the exit code."""
    passed, failed = RESULTS.count(True), RESULTS.count(False)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


def supervisor_status():
    """The supervisor's status file of the test environment with a database
    (scripts/testenv.sh start; . var/test/env.sh), or None after printing
    the skip lines."""
    import os
    status_path = os.environ.get("COMPTOIR_TEST_SUPERVISOR_STATUS")
    if os.environ.get("COMPTOIR_TEST_EDGE") and os.environ.get("COMPTOIR_TEST_PG_ADMIN") \
            and status_path and os.path.exists(status_path):
        return status_path
    print("chaos: no test environment (scripts/testenv.sh start; . var/test/env.sh): skipped")
    print("0 passed, 0 failed")
    return None


def read_status(path):
    """{name: (pid, restarts)} from the supervisor's status file."""
    children = {}
    with open(path, encoding="utf-8") as status:
        for line in status:
            parts = line.split()
            if len(parts) >= 3:
                children[parts[0]] = (int(parts[1]), int(parts[2]))
    return children


def supervised(path):
    """{name: (pid, restarts, state, holds)} from the supervisor's status file
    (state: running, held...)."""
    children = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            parts = line.split()
            if len(parts) == 5:
                children[parts[0]] = (int(parts[1]), int(parts[2]), parts[3], int(parts[4]))
    return children


def hold_down(path, process, seconds=60):
    """Kill (SIGKILL) every new start of process at once until the
    supervisor holds it down after too many failed starts (the shipped
    settings: restart_intensity + 1 of them, then cooldown_s down).
    Returns ((pid, holds) when held else None, the set of pids killed)."""
    import os
    import signal
    import time
    killed = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pid, _, state, holds = supervised(path)[process]
        if state == "held":
            return (pid, holds), killed
        if pid > 0 and pid not in killed:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.005)
    return None, killed


def wait_for(predicate, seconds, pause=0.1):
    """predicate's first true value within seconds (polled every pause), else its last."""
    import time
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(pause)
    return predicate()


def workers(path, prefix):
    """The supervisor's children whose name starts with prefix ("cart-")."""
    return {name: value for name, value in read_status(path).items() if name.startswith(prefix)}


def alive(pid):
    """True when pid is a running process (not gone, not a zombie)."""
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def kill_one(path, prefix, rng):
    """SIGKILL one live child whose name starts with prefix, chosen with rng:
    (killed, error text or None). (False, None) while none is up."""
    import os
    import signal
    up = [pid for pid, _ in workers(path, prefix).values() if pid > 0 and alive(pid)]
    if not up:
        return False, None
    try:
        os.kill(rng.choice(up), signal.SIGKILL)
        return True, None
    except ProcessLookupError:
        return False, None
    except OSError as error:
        return False, str(error)


class Client:
    """One keep-alive connection; a request that fails on the wire is sent
    once more on a fresh connection with the same X-Request-ID."""

    def __init__(self, base, key):
        url = urllib.parse.urlparse(base)
        self.host, self.port = url.hostname, url.port or 80
        self.key = key
        self.conn = None
        self.retries = 0

    def call(self, method, path, body=None):
        headers = {"X-API-Key": self.key, "X-Request-ID": str(uuid.uuid4())}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            try:
                self.conn.request(method, path, body=payload, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return response.status, data
            except (http.client.HTTPException, OSError):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                self.retries += 1
        raise RuntimeError("unreachable")
