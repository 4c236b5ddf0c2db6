#!/usr/bin/env python3
"""Comptoir - CPU time of the test environment's processes during a benchmark.

    bench/cpu.py snap OUT PID...     writes the CPU time (user + system, all
                                     threads) of every process under the PIDs
                                     (their descendants included), and the
                                     machine's busy and total time
    bench/cpu.py diff BEFORE AFTER COUNT
                                     prints, per process group, the CPU
                                     seconds used between the two snapshots
                                     and the microseconds per unit of COUNT
                                     (e.g. per checkout), then the machine's
                                     busy share and the share of it that
                                     these processes account for

Groups: the command name (comptoir-edge, comptoir-order ...); PostgreSQL
backends by database ("postgres comptoir_order"), its other processes as
"postgres (other)". A process that exited between the snapshots counts
in its parent's "(exited children)" line once the parent has reaped it
(PostgreSQL's backends of a pgbench run, for example).
"""

import os
import sys

TICK = os.sysconf("SC_CLK_TCK")


def children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, encoding="utf-8", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(fields[1]), []).append(int(name))
    return kids


def group(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as cmd:
            argv = cmd.read().split(b"\0")
        with open("/proc/%d/comm" % pid, encoding="utf-8") as comm:
            name = comm.read().strip()
    except OSError:
        return None
    text = argv[0].decode(errors="replace")
    if text.startswith("postgres: "):
        words = text.split()
        #   "postgres: user db [local] state" for a backend
        if len(words) >= 4 and words[3].startswith("["):
            return "postgres " + words[2]
        return "postgres (other)"
    if name.startswith("postgres"):
        return "postgres (other)"
    return os.path.basename(text) or name


def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def snap(out, roots):
    kids = children_map()
    seen, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo.extend(kids.get(pid, []))
    with open("/proc/stat", encoding="utf-8") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]
    with open(out, "w", encoding="utf-8") as dest:
        dest.write("machine %d %d\n" % (sum(values[:8]) - idle, sum(values[:8])))
        for pid in sorted(seen):
            ticks, name = cpu_ticks(pid), group(pid)
            if ticks is not None and name:
                dest.write("%d %d %d %s\n" % (pid, ticks[0], ticks[1], name))


def load(path):
    machine, procs = None, {}
    with open(path, encoding="utf-8") as src:
        for line in src:
            if line.startswith("machine "):
                words = line.split()
                machine = (int(words[1]), int(words[2]))
            else:
                words = line.split(None, 3)
                procs[int(words[0])] = (int(words[1]), int(words[2]), words[3].strip())
    return machine, procs


def diff(before_path, after_path, count):
    (busy0, total0), before = load(before_path)
    (busy1, total1), after = load(after_path)
    groups = {}
    for pid, (ticks, reaped, name) in after.items():
        start, start_reaped, _ = before.get(pid, (0, 0, name))
        groups[name] = groups.get(name, 0) + ticks - start
        if reaped > start_reaped:
            name = "postgres (exited backends)" if name.startswith("postgres") else name + " (exited children)"
            groups[name] = groups.get(name, 0) + reaped - start_reaped
    ours = sum(groups.values())
    print("%-34s %8s %10s" % ("process", "cpu s", "us/unit"))
    for name, ticks in sorted(groups.items(), key=lambda item: -item[1]):
        if ticks <= 0:
            continue
        seconds = ticks / TICK
        print("%-34s %8.2f %10.0f" % (name, seconds, seconds * 1e6 / count if count else 0))
    busy, total = busy1 - busy0, total1 - total0
    print("%-34s %8.2f %10.0f" % ("all of the above", ours / TICK, ours / TICK * 1e6 / count if count else 0))
    if total > 0:
        print("machine busy %.0f %% of its CPUs (%d cores); the processes above %.0f %% of that busy time"
              % (100.0 * busy / total, os.cpu_count(), 100.0 * ours / busy if busy else 0))


def main(argv):
    if len(argv) >= 3 and argv[1] == "snap":
        snap(argv[2], [int(pid) for pid in argv[3:]])
    elif len(argv) == 5 and argv[1] == "diff":
        diff(argv[2], argv[3], int(argv[4]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
