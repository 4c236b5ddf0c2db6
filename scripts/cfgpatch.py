#!/usr/bin/env python3
"""Write a copy of a ZPL configuration (ZeroMQ RFC 4) with some values replaced.

    cfgpatch.py IN OUT path/to/key=value ...

The test environment and the benchmarks run the same system as run.sh on other
ports and folders: rather than keeping a second configuration by hand (which
would drift), they derive theirs from etc/comptoir.cfg. A key that exists is
rewritten in place; a missing key is added at the end of its section, and a
missing section at the end of its parent, so the result has each section once
(zconfig keeps the first of duplicates). Values are written quoted.
"""
import sys


def parse(lines):
    """Returns [(line_index, depth, name, is_key)] for every item line."""
    items = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        depth = indent // 4
        name = stripped.split("=", 1)[0].strip().split()[0]
        items.append((index, depth, name, "=" in stripped.split("#", 1)[0]))
    return items


def locate(lines, path):
    """Index of the line of path, and the index after the last line of its
    subtree (or None, None)."""
    items = parse(lines)
    stack = []
    found = None
    for pos, (index, depth, name, _key) in enumerate(items):
        del stack[depth:]
        stack.append(name)
        if found is None and stack == path:
            found = pos
    if found is None:
        return None, None
    index, depth = items[found][0], items[found][1]
    end = index + 1
    for later in items[found + 1:]:
        if later[1] <= depth:
            break
        end = later[0] + 1
    return index, end


def quote(value):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def set_value(lines, path, value):
    index, _end = locate(lines, path)
    depth = len(path) - 1
    text = " " * (4 * depth) + path[-1] + " = " + quote(value)
    if index is not None:
        lines[index] = text
        return
    # Make sure every parent section exists, then append at its end.
    for size in range(1, len(path)):
        parent = path[:size]
        if locate(lines, parent)[0] is None:
            _p_index, p_end = locate(lines, parent[:-1]) if size > 1 else (None, len(lines))
            lines.insert(p_end, " " * (4 * (size - 1)) + parent[-1])
    _p_index, p_end = locate(lines, path[:-1])
    lines.insert(p_end, text)


def main(argv):
    if len(argv) < 3 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) > 1 and argv[1] in ("-h", "--help") else 2
    with open(argv[1], encoding="utf-8") as source:
        lines = source.read().splitlines()
    for override in argv[3:]:
        if "=" not in override:
            print("cfgpatch: expected path=value, got " + override, file=sys.stderr)
            return 2
        path, value = override.split("=", 1)
        set_value(lines, [part for part in path.strip().split("/") if part], value)
    with open(argv[2], "w", encoding="utf-8") as target:
        target.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
