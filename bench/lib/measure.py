#!/usr/bin/env python3
"""Runs one pgbench and measures the CPU that pgbench, the proxy and
PostgreSQL spent while its transactions ran.

    measure.py --postmaster PID [--proxy PID] [--wait-connections N]
               [--timeout S] --output FILE -- pgbench ARGS...

pgbench (15) opens all its connections before the first transaction, and
its -T clock already runs meanwhile. Opening 256 connections forks 256
backends, which would weigh on "CPU per transaction" for whoever has no
warm pool, so with --wait-connections N the measurement window starts only
once pgbench holds N sockets (each thread connects its clients one after
the other, so at most one per thread is still logging in then). Without
it (pgbench -C, where connecting is the workload) the window is the whole
run. The window ends when pgbench exits.

Prints "PROXY_TICKS PG_TICKS PGBENCH_CPU_S WINDOW_S" (PROXY_TICKS is 0
without --proxy) and exits with pgbench's status; pgbench's output goes to
FILE. pgbench is killed after --timeout seconds (default 300).
"""

import argparse
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_ticks import own_ticks, stat_fields, tree_ticks  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def socket_count(pid):
    count = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                    count += 1
            except OSError:
                pass
    except OSError:
        return -1
    return count


def sample(args):
    proxy = own_ticks(stat_fields(args.proxy)) if args.proxy else 0
    return proxy, tree_ticks(args.postmaster)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--postmaster", type=int, required=True)
    parser.add_argument("--proxy", type=int)
    parser.add_argument("--wait-connections", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--output", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command

    deadline = time.monotonic() + args.timeout
    with open(args.output, "wb") as out:
        start = None
        if args.wait_connections <= 0:
            start = (time.monotonic(), *sample(args), 0)
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        # Polling stops at the first sign that all connections are up; the
        # process table scan for the sample itself takes a few milliseconds.
        while start is None and child.poll() is None and time.monotonic() < deadline:
            if socket_count(child.pid) >= args.wait_connections:
                try:
                    own = own_ticks(stat_fields(child.pid))
                except (FileNotFoundError, ProcessLookupError):
                    break
                start = (time.monotonic(), *sample(args), own)
                break
            time.sleep(0.02)

        status = None
        while status is None:
            left = deadline - time.monotonic()
            if left <= 0:
                child.send_signal(signal.SIGKILL)
                print(f"measure.py: pgbench did not finish within {args.timeout} s", file=sys.stderr)
            pid, status, usage = os.wait4(child.pid, 0) if left <= 0 else _wait(child.pid, left)
        end_time = time.monotonic()
        proxy_end, pg_end = sample(args)

    code = os.waitstatus_to_exitcode(status)
    if start is None:
        # pgbench ended (or failed) before it had connected everyone.
        print("0 0 0 0")
        return code or 1
    t0, proxy0, pg0, own0 = start
    pgbench_cpu = usage.ru_utime + usage.ru_stime - own0 / CLK_TCK
    print(f"{proxy_end - proxy0} {pg_end - pg0} {pgbench_cpu:.3f} {end_time - t0:.3f}")
    return code


def _wait(pid, timeout):
    """wait4 with a timeout: polls, since wait4 itself cannot time out."""
    end = time.monotonic() + timeout
    while True:
        pid_done, status, usage = os.wait4(pid, os.WNOHANG)
        if pid_done:
            return pid_done, status, usage
        if time.monotonic() >= end:
            return 0, None, None
        time.sleep(0.02)


if __name__ == "__main__":
    sys.exit(main())
