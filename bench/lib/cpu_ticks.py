#!/usr/bin/env python3
"""Prints CPU time consumed so far, in clock ticks, one number per argument.

    cpu_ticks.py PID          utime + stime of the process (all its threads)
    cpu_ticks.py tree:PID     the same for PID, plus what its children that
                              were already reaped used (cutime + cstime),
                              plus utime + stime of its live children

`tree:` is for the postmaster: backends come and go (pgbench -C), and a
backend that ended between two samples is still counted because the
postmaster reaped it. Sample before and after a run and subtract.
"""

import os
import sys


def stat_fields(pid):
    """Fields of /proc/PID/stat after the command name, which may hold spaces."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    # Field 3 (state) is the first after the last ')'; index 0 here.
    return data[data.rindex(b")") + 2 :].split()


def own_ticks(fields):
    # utime and stime are fields 14 and 15 of stat(5): 11 and 12 here.
    return int(fields[11]) + int(fields[12])


def reaped_ticks(fields):
    # cutime and cstime are fields 16 and 17 of stat(5): 13 and 14 here.
    return int(fields[13]) + int(fields[14])


def live_children_ticks(pid):
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            child = stat_fields(entry)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue  # ended while we looked
        # ppid is field 4 of stat(5): index 1 here.
        if child[1] == str(pid).encode():
            total += own_ticks(child)
    return total


def tree_ticks(pid):
    # A child reaped while the children are being read would be counted in
    # neither place (or in both): read the parent's reaped total before and
    # after, and start again if it moved. Backends exit exactly when pgbench
    # does, which is when the sample is taken.
    for _ in range(50):
        before = stat_fields(pid)
        children = live_children_ticks(pid)
        after = stat_fields(pid)
        if reaped_ticks(before) == reaped_ticks(after):
            return own_ticks(after) + reaped_ticks(after) + children
    raise RuntimeError(f"children of {pid} kept being reaped while counting")


def main(args):
    if not args:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    out = []
    for arg in args:
        if arg.startswith("tree:"):
            out.append(tree_ticks(int(arg[5:])))
        else:
            out.append(own_ticks(stat_fields(int(arg))))
    print(" ".join(str(v) for v in out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
