"""What every chaos test needs: the PASS:/FAIL: lines, and the supervisor's
view of its children (to find a worker's pid and see it restarted).

Not a test itself (check.sh runs tests/chaos/test_*.py only).
"""

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


def read_status(path):
    """{name: (pid, restarts)} from the supervisor's status file."""
    children = {}
    with open(path, encoding="utf-8") as status:
        for line in status:
            parts = line.split()
            if len(parts) >= 3:
                children[parts[0]] = (int(parts[1]), int(parts[2]))
    return children


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
