#!/usr/bin/env python3
"""Summaries for bench/run.

    report.py latency LOGFILE...
        Reads pgbench --log files (the 3rd field is the transaction's latency
        in microseconds) and prints "P50 P99 COUNT".

    report.py markdown SAMPLES.tsv [--chart FILE.png] [--chart-data FILE]
        Prints the markdown report for the samples bench/run recorded, and
        writes the data of the TPS-ratio chart (see ratio_chart.gp).

SAMPLES.tsv has one sample per line: section, cell, round, target, metric,
value. Every figure in the report is a median over rounds, and every ratio
is taken within one round (target and direct ran back to back) before the
median of those per-round ratios is taken. Ratios to the floor, the bare
forwarder, are taken the same way.
"""

import argparse
import collections
import math
import statistics
import sys

TARGETS = ["direct", "floor", "pgvalve", "pgbouncer", "pgbouncer-tx"]
PROXIES = TARGETS[1:]
# Relays compared with each other, beside their ratio to direct: pgvalve
# with PgBouncer in session mode (like for like), and both with the floor
# (what each costs beyond moving the bytes).
PAIRS = [("pgvalve", "pgbouncer"), ("pgvalve", "floor"), ("pgbouncer", "floor")]
# The chart's column order (ratio_chart.gp reads columns by number).
CHART_PROXIES = ["pgvalve", "pgbouncer", "pgbouncer-tx", "floor"]
FLOOR_TEXT = (
    "`floor` is a forwarder with no protocol logic at all "
    "(`bench/tools/floor_forwarder.c`: epoll, one recv and one send per readiness, "
    "threads as in the table above): the least any relay costs, so `X/floor` is "
    "what a proxy costs beyond moving the bytes."
)
WORKLOADS = {
    "simple": "-S -M simple",
    "extended": "-S -M extended",
    "prepared": "-S -M prepared",
    "tpcb": "TPC-B (default script)",
    "connect-trust": "-S -C (new connection per transaction), trust",
    "connect-scram": "-S -C (new connection per transaction), SCRAM",
}
CHART_MODES = ["simple", "extended", "prepared"]


def percentile(values, p):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def latency(paths):
    values = []
    for path in paths:
        with open(path) as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 3:
                    values.append(int(fields[2]))
    if not values:
        print("report.py: no latencies in the pgbench logs", file=sys.stderr)
        return 1
    print(percentile(values, 50), percentile(values, 99), len(values))
    return 0


class Samples:
    def __init__(self, path):
        self.meta = {}
        # (section, cell, target, metric) -> {round: value}
        self.values = collections.defaultdict(dict)
        self.cells = collections.defaultdict(list)  # section -> cells in order
        with open(path) as f:
            for line in f:
                section, cell, rnd, target, metric, value = line.rstrip("\n").split("\t")
                if section == "meta":
                    self.meta[cell] = value
                    continue
                self.values[(section, cell, target, metric)][rnd] = float(value)
                if cell not in self.cells[section]:
                    self.cells[section].append(cell)

    def per_round(self, section, cell, target, metric):
        return self.values.get((section, cell, target, metric), {})

    def median(self, section, cell, target, metric):
        v = self.per_round(section, cell, target, metric)
        return statistics.median(v.values()) if v else None

    def ratios(self, section, cell, target, metric, reference="direct"):
        """target/reference within each round where both ran."""
        a = self.per_round(section, cell, target, metric)
        b = self.per_round(section, cell, reference, metric)
        return [a[r] / b[r] for r in a if r in b and b[r]]

    def differences(self, section, cell, target, metric, reference="direct"):
        a = self.per_round(section, cell, target, metric)
        b = self.per_round(section, cell, reference, metric)
        return [a[r] - b[r] for r in a if r in b]

    def targets(self):
        present = self.meta.get("targets", " ".join(TARGETS)).split()
        return [t for t in TARGETS if t in present]

    def per_transaction_us(self, cell, target, metric):
        """Median over rounds of a CPU metric per transaction, in µs."""
        clk = float(self.meta.get("clk_tck", 100))
        xacts = self.per_round("tps", cell, target, "xacts")
        cpu = self.per_round("tps", cell, target, metric)
        per = []
        for r, x in xacts.items():
            if r in cpu and x:
                seconds = cpu[r] if metric.endswith("_s") else cpu[r] / clk
                per.append(seconds * 1e6 / x)
        return statistics.median(per) if per else None


def fmt(value, digits=1):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def fmt_ratio(values):
    if not values:
        return "–"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.2f}"
    return f"{med:.2f} ({min(values):.2f}–{max(values):.2f})"


def table(header, rows, align=None):
    align = align or ["l"] + ["r"] * (len(header) - 1)
    out = ["| " + " | ".join(header) + " |"]
    out.append("|" + "|".join(":--" if a == "l" else "--:" for a in align) + "|")
    for row in rows:
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out)


def split_cell(cell):
    workload, _, clients = cell.partition("/")
    return workload, clients


def pairs_of(targets):
    return [(a, b) for a, b in PAIRS if a in targets and b in targets]


def section_tps(s, out):
    cells = s.cells.get("tps")
    if not cells:
        return
    targets = s.targets()
    proxies = [t for t in PROXIES if t in targets]
    out.append("## Throughput (pgbench TPS)\n")
    text = (
        f"Median TPS over {s.meta.get('rounds')} rounds of {s.meta.get('duration')} s each; "
        "ratios are the median of the per-round ratios, with their range in "
        "brackets. Above 1 the proxy was faster than connecting directly."
    )
    if "pgbouncer-tx" in targets:
        text += (
            " `pgbouncer-tx` (transaction mode, pool of 20) is a reference for "
            "multiplexing, not a like-for-like relay; it cannot run `-M prepared` (–)."
        )
    if "floor" in targets:
        text += " " + FLOOR_TEXT
    out.append(text + "\n")
    pairs = pairs_of(targets)
    header = ["workload", "clients"] + [f"{t} TPS" for t in targets]
    header += [f"{t}/direct" for t in proxies]
    header += [f"{a}/{b}" for a, b in pairs]
    rows = []
    for cell in cells:
        workload, clients = split_cell(cell)
        row = [WORKLOADS.get(workload, workload), clients]
        row += [fmt(s.median("tps", cell, t, "tps")) for t in targets]
        row += [fmt_ratio(s.ratios("tps", cell, t, "tps")) for t in proxies]
        row += [fmt_ratio(s.ratios("tps", cell, a, "tps", b)) for a, b in pairs]
        rows.append(row)
    out.append(table(header, rows, ["l"] + ["r"] * (len(header) - 1)))
    out.append("\n")


def section_cpu(s, out):
    cells = s.cells.get("tps")
    if not cells:
        return
    targets = s.targets()
    proxies = [t for t in PROXIES if t in targets]
    clk = s.meta.get("clk_tck", "100")
    out.append("## CPU per transaction\n")
    out.append(
        "Microseconds of CPU (user + system) per transaction, median over rounds. "
        "The window opens once pgbench has opened all its connections (for `-C`, "
        "where connecting is the workload, at its start) and closes when it exits. "
        f"Proxies and PostgreSQL are sampled from /proc (resolution 1/{clk} s per run); "
        "PostgreSQL is the postmaster, its live children and the children it reaped "
        "(backends that ended under `-C`); pgbench's time is its rusage less what it "
        "had used when the window opened.\n"
    )
    if proxies:
        out.append("### The proxy process\n")
        if "floor" in proxies:
            out.append(
                "The floor's CPU is what relaying the bytes costs by itself; the ratios "
                "are of the medians.\n"
            )
        pairs = pairs_of(proxies)
        header = ["workload", "clients"] + [f"{t} µs/tx" for t in proxies]
        header += [f"{a}/{b}" for a, b in pairs]
        rows = []
        for cell in cells:
            workload, clients = split_cell(cell)
            values = {t: s.per_transaction_us(cell, t, "proxy_ticks") for t in proxies}
            row = [WORKLOADS.get(workload, workload), clients] + [fmt(values[t]) for t in proxies]
            for a, b in pairs:
                v, w = values[a], values[b]
                row.append(f"{v / w:.2f}" if v is not None and w else "–")
            rows.append(row)
        out.append(table(header, rows))
        out.append("\n")
    out.append("### Everything: proxy / PostgreSQL / pgbench\n")
    out.append(
        "Each cell is `proxy / PostgreSQL / pgbench = total` in µs per transaction "
        "(no proxy for direct).\n"
    )
    header = ["workload", "clients"] + targets
    rows = []
    for cell in cells:
        workload, clients = split_cell(cell)
        row = [WORKLOADS.get(workload, workload), clients]
        for t in targets:
            pg = s.per_transaction_us(cell, t, "pg_ticks")
            bench = s.per_transaction_us(cell, t, "pgbench_cpu_s")
            proxy = None if t == "direct" else s.per_transaction_us(cell, t, "proxy_ticks")
            if pg is None or bench is None:
                row.append("–")
                continue
            total = pg + bench + (proxy or 0)
            parts = ([] if t == "direct" else [fmt(proxy)]) + [fmt(pg), fmt(bench)]
            row.append(" / ".join(parts) + f" = {fmt(total)}")
        rows.append(row)
    out.append(table(header, rows))
    out.append("\n")


def section_latency(s, out):
    cells = s.cells.get("latency")
    if not cells:
        return
    targets = s.targets()
    out.append("## Latency at 1 client\n")
    out.append(
        "Per-transaction latency of `pgbench -S -M simple -c 1` from `pgbench --log` "
        "(the same runs as the 1-client row above), in µs: p50 and p99 per run, "
        "median over rounds. The overhead is taken against direct within each "
        "round, then the median.\n"
    )
    has_floor = "floor" in targets
    if has_floor:
        out.append("`p50 − floor` is the part of the overhead that is more than relaying the bytes.\n")
    for cell in cells:
        header = ["target", "p50 µs", "p99 µs", "p50 overhead µs", "p99 overhead µs"]
        header += ["p50 − floor µs"] if has_floor else []
        header.append("transactions logged")
        rows = []
        for t in targets:
            if not s.per_round("latency", cell, t, "p50_us"):
                continue
            row = [t, fmt(s.median("latency", cell, t, "p50_us"), 0), fmt(s.median("latency", cell, t, "p99_us"), 0)]
            if t == "direct":
                row += ["–", "–"]
            else:
                for metric in ("p50_us", "p99_us"):
                    d = s.differences("latency", cell, t, metric)
                    row.append(f"{statistics.median(d):+,.0f}" if d else "–")
            if has_floor:
                d = [] if t in ("direct", "floor") else s.differences("latency", cell, t, "p50_us", "floor")
                row.append(f"{statistics.median(d):+,.0f}" if d else "–")
            n = s.per_round("latency", cell, t, "samples")
            row.append(f"{int(sum(n.values())):,}")
            rows.append(row)
        out.append(table(header, rows))
        out.append("\n")


def section_transfer(s, out):
    cells = s.cells.get("transfer")
    if not cells:
        return
    targets = s.targets()
    clk = float(s.meta.get("clk_tck", 100))
    mib = s.meta.get("transfer_mib")
    out.append("## Large results\n")
    out.append(
        f"One result of {mib} MiB of 1 KiB text rows, read by a minimal client "
        "(`bench/tools/pull.c`) that skips rows without building them: "
        "`COPY (SELECT repeat('x', 1024) FROM ...) TO STDOUT` and the same "
        "`SELECT`. MiB/s counts every byte on the wire from the Query to "
        "ReadyForQuery; median over rounds, ratios per round ("
        + ("`ratio` to direct, `/floor` to the bare forwarder" if "floor" in targets else "to direct")
        + "). Proxy CPU is seconds of CPU per GiB relayed.\n"
    )
    has_floor = "floor" in targets
    header = ["target"]
    for cell in cells:
        header += [f"{cell.upper()} MiB/s", f"{cell.upper()} ratio"]
        header += [f"{cell.upper()} /floor"] if has_floor else []
        header.append(f"{cell.upper()} proxy CPU s/GiB")
    rows = []
    for t in targets:
        row = [t]
        for cell in cells:
            row.append(fmt(s.median("transfer", cell, t, "mib_per_s")))
            row.append("–" if t == "direct" else fmt_ratio(s.ratios("transfer", cell, t, "mib_per_s")))
            if has_floor:
                to_floor = t not in ("direct", "floor")
                row.append(fmt_ratio(s.ratios("transfer", cell, t, "mib_per_s", "floor")) if to_floor else "–")
            ticks = s.per_round("transfer", cell, t, "proxy_ticks")
            size = s.per_round("transfer", cell, t, "bytes")
            per = [ticks[r] / clk / (size[r] / 2**30) for r in ticks if size.get(r)]
            row.append(fmt(statistics.median(per), 2) if per else "–")
        rows.append(row)
    out.append(table(header, rows))
    out.append("\n")


def section_memory(s, out):
    cells = s.cells.get("memory")
    if not cells:
        return
    out.append("## Memory per idle session\n")
    for cell in cells:
        n = cell.partition("=")[2]
        out.append(
            f"VmRSS of a freshly started proxy, then with {n} sessions open (each ran "
            "`SELECT 1`, so PgBouncer in session mode holds a server connection for "
            "each; in transaction mode it holds at most its pool of 20), divided by "
            f"{n}. Median over rounds; a round starts new proxy processes. Kernel socket buffers are not part of RSS."
            + (" The floor keeps a struct of a few dozen bytes and no buffer per idle "
               "session: about the least a relay can keep." if "floor" in s.targets() else "")
            + (" Every proxy measured here reached PostgreSQL through a PgBouncer in "
               "transaction mode (pool of 20, not measured), so that the sessions needed "
               "20 backends rather than one each." if s.meta.get("memory_upstream") == "pool" else "")
            + "\n"
        )
        header = ["proxy", "RSS before MiB", f"RSS with {n} sessions MiB", "KiB per session"]
        rows = []
        for t in PROXIES:
            if not s.per_round("memory", cell, t, "kib_per_session"):
                continue
            rows.append([
                t,
                fmt(s.median("memory", cell, t, "rss_before_kib") / 1024),
                fmt(s.median("memory", cell, t, "rss_after_kib") / 1024),
                fmt(s.median("memory", cell, t, "kib_per_session")),
            ])
        out.append(table(header, rows))
        out.append("\n")
        if s.per_round("memory", cell, "pgvalve", "scrape_cpu_ms_metrics"):
            out.append(
                f"pgvalve's CPU for one HTTP request while the {n} sessions were open (median of "
                "rounds, each the mean of its scrapes): what a Prometheus scrape of `/metrics` "
                "and a dashboard's `/v1/clients` cost at that many sessions.\n"
            )
            scrape_rows = []
            for path, metric in (("/metrics", "metrics"), ("/v1/clients", "v1_clients")):
                scrape_rows.append([
                    f"`GET {path}`",
                    fmt(s.median("memory", cell, "pgvalve", "scrape_cpu_ms_" + metric)),
                    fmt(s.median("memory", cell, "pgvalve", "scrape_bytes_" + metric) / 1024),
                ])
            out.append(table(["request", "CPU ms", "response KiB"], scrape_rows))
            out.append("\n")


def section_cancel(s, out):
    if not s.cells.get("cancel"):
        return
    targets = s.targets()
    out.append("## Cancel latency\n")
    out.append(
        "From `PQcancel` (which opens a connection and sends the CancelRequest) "
        "to the session receiving SQLSTATE 57014 on `SELECT pg_sleep(60)`; "
        "every sample of every round pooled.\n"
    )
    header = ["target", "samples", "median ms", "p99 ms", "median − direct ms"]
    pooled = {t: list(s.per_round("cancel", "pg_sleep", t, "latency_us").values()) for t in targets}
    medians = {t: statistics.median(v) for t, v in pooled.items() if v}
    has_floor = "floor" in medians
    if has_floor:
        header.append("median − floor ms")
    rows = []
    for t in targets:
        v = pooled[t]
        if not v:
            continue
        med = medians[t]
        row = [t, str(len(v)), f"{med / 1000:.2f}", f"{percentile(v, 99) / 1000:.2f}"]
        for reference in ("direct", "floor") if has_floor else ("direct",):
            skip = t in ("direct", reference) or reference not in medians
            row.append("–" if skip else f"{(med - medians[reference]) / 1000:+.2f}")
        rows.append(row)
    out.append(table(header, rows))
    out.append("\n")


def section_tls_summary(s, out):
    """The TLS run's headline: pgvalve against PgBouncer in session mode."""
    targets = s.targets()
    if "pgvalve" not in targets or "pgbouncer" not in targets:
        return
    rows = []
    for cell in s.cells.get("tps", []):
        workload, clients = split_cell(cell)
        if workload != "simple":
            continue
        rows.append([
            f"TPS, `{WORKLOADS[workload]}`, {clients} clients",
            fmt(s.median("tps", cell, "pgvalve", "tps")),
            fmt(s.median("tps", cell, "pgbouncer", "tps")),
            fmt_ratio(s.ratios("tps", cell, "pgvalve", "tps", "pgbouncer")),
        ])
    for cell in s.cells.get("memory", []):
        n = int(cell.partition("=")[2])
        rows.append([
            f"KiB per idle TLS session, {n:,} sessions",
            fmt(s.median("memory", cell, "pgvalve", "kib_per_session")),
            fmt(s.median("memory", cell, "pgbouncer", "kib_per_session")),
            fmt_ratio(s.ratios("memory", cell, "pgvalve", "kib_per_session", "pgbouncer")),
        ])
    if not rows:
        return
    out.append("## pgvalve against PgBouncer, both with TLS\n")
    out.append(
        "The comparison this run is for: pgvalve against PgBouncer in session mode, "
        "each terminating the clients' TLS. Medians over rounds; the ratio is the "
        "median of the per-round ratios (both ran back to back), with its range in "
        "brackets. For TPS above 1 favours pgvalve, for memory below 1 does."
        + (" The floor, the bare forwarder of the plain run, is not part of it: it "
           "cannot terminate TLS." if "not_run:floor" in s.meta else "")
        + "\n"
    )
    out.append(table(["measure", "pgvalve", "pgbouncer", "pgvalve/pgbouncer"], rows))
    out.append("\n")


def chart_data(s, path):
    """Blocks per pgbench mode (gnuplot indexes 0, 1, 2): clients, then for
    each proxy the median ratio to direct with its minimum and maximum."""
    blocks = []
    for mode in CHART_MODES:
        lines = [f"# {mode}: clients " + " ".join(f"{t} {t}_min {t}_max" for t in CHART_PROXIES)]
        for cell in s.cells.get("tps", []):
            workload, clients = split_cell(cell)
            if workload != mode:
                continue
            fields = [clients]
            for t in CHART_PROXIES:
                r = s.ratios("tps", cell, t, "tps")
                fields += [f"{statistics.median(r):.4f}", f"{min(r):.4f}", f"{max(r):.4f}"] if r else ["?"] * 3
            lines.append(" ".join(fields))
        if len(lines) == 1:
            lines.append("? " + " ".join(["?"] * 3 * len(CHART_PROXIES)))
        blocks.append("\n".join(lines))
    has_data = any(split_cell(c)[0] in CHART_MODES for c in s.cells.get("tps", []))
    with open(path, "w") as f:
        if has_data:
            f.write("\n\n\n".join(blocks) + "\n")


def load_text(s):
    """The machine's load around the run: it is shared, and load explains noise."""
    loads = [v for (section, _, _, metric), rounds in s.values.items()
             if section == "tps" and metric == "load1" for v in rounds.values()]
    text = f"load average {s.meta.get('load_start', '?')} at the start, {s.meta.get('load_end', '?')} at the end"
    if loads:
        text += (f"; 1-minute load before each pgbench run: median {statistics.median(loads):.1f}, "
                 f"range {min(loads):.1f}–{max(loads):.1f} (this benchmark adds about 2)")
    return text


def markdown(args):
    s = Samples(args.samples)
    m = s.meta
    tls = m.get("tls") == "client"
    out = ["# pgvalve benchmark results: TLS on the client leg\n" if tls else "# pgvalve benchmark results\n"]
    out.append(f"`{m.get('command', 'bench/run')}` ({m.get('mode')} mode), {m.get('date')}, "
               f"{int(float(m.get('elapsed_s', 0))) // 60} min {int(float(m.get('elapsed_s', 0))) % 60} s.\n")
    if tls:
        out.append(
            "**Every client (pgbench, `hold_sessions`) reached every target over TLS**: "
            "`PGSSLMODE=require`, with which libpq will not go on without TLS, and every "
            "target demands it. The proxies reach PostgreSQL in **plain TCP**: only the "
            "client leg is encrypted, so a proxy ends the same single TLS session that "
            "PostgreSQL ends when reached directly.\n"
        )
    rows = [
        ["machine", f"{m.get('nproc')} cores, {m.get('cpu')}, {m.get('ram')} RAM, {m.get('kernel')}"],
        ["pgvalve", f"{m.get('pgvalve')} (commit {m.get('commit')}, {m.get('pgvalve_build')} build), "
                    "default settings: one worker per core"
                    + ("; a config file with only the client TLS keys" if tls else "")],
        ["PgBouncer", f"{m.get('pgbouncer')}; `pgbouncer`: session mode, pool as large as the "
                      "client count; `pgbouncer-tx`: transaction mode, pool of 20"
                      + ("; after every run `RECONNECT` and a wait until `SHOW SERVERS` is empty, "
                         "so that each run starts without pooled server connections, like the "
                         "other targets" if m.get("pgbouncer_servers") == "cold" else "")],
        ["PostgreSQL", f"{m.get('postgres')}, throwaway cluster, fsync off, shared_buffers 128MB; "
                       f"{m.get('pgbench')}, scale {m.get('scale')}"],
        ["method", f"{m.get('rounds')} rounds ({m.get('side_rounds')} for memory and large "
                   "results); each round runs every target back to back in an order rotated "
                   "from round to round; everything shares the same cores, and every proxy "
                   "reaches PostgreSQL over TCP on 127.0.0.1"],
        ["load", load_text(s)],
    ]
    if "floor" in s.targets():
        threads = m.get("floor_threads", "?")
        rows.insert(2, ["floor", (
            f"`bench/tools/floor_forwarder.c`: epoll, {threads} thread{'' if threads == '1' else 's'} "
            "with a SO_REUSEPORT listener each, one recv and one send per readiness, no protocol "
            "logic: the least a relay costs")])
    not_run = [f"`{key[len('not_run:'):]}`: {why}" for key, why in m.items() if key.startswith("not_run:")]
    if not_run:
        rows.append(["not measured", "; ".join(not_run)])
    if tls:
        negotiated = "; ".join(
            f"{t} {m['tls_' + t]}" for t in s.targets() if m.get("tls_" + t))
        rows.append(["TLS", (
            f"client leg only; {m.get('openssl', 'OpenSSL')}; one self-signed RSA 2048 "
            "certificate for every target; PostgreSQL `ssl = on`, pgvalve "
            "`client_tls_sslmode = \"require\"`, PgBouncer `client_tls_sslmode = require`, "
            "protocols and ciphers left at their defaults; negotiated: "
            f"{negotiated or 'not recorded'} (direct from `pg_stat_ssl` of a libpq "
            "session, the proxies from `openssl s_client -starttls postgres`)")])
    out.append(table(["", ""], rows, ["l", "l"]))
    out.append("\nRead the ratios, not the absolute numbers: pgbench, the proxy and "
               "PostgreSQL compete for the same cores, so a proxy's cost shows up as "
               "lower throughput. `bench/README.md` explains each section.\n")
    if tls:
        section_tls_summary(s, out)
    section_tps(s, out)
    if args.chart and any(split_cell(c)[0] in CHART_MODES for c in s.cells.get("tps", [])):
        out.append(f"![TPS ratio to direct by client count]({args.chart})\n")
    section_latency(s, out)
    section_cpu(s, out)
    section_transfer(s, out)
    section_memory(s, out)
    section_cancel(s, out)
    if args.chart_data:
        chart_data(s, args.chart_data)
    print("\n".join(out).rstrip() + "\n", end="")
    return 0


def main(argv):
    if len(argv) >= 1 and argv[0] == "latency":
        return latency(argv[1:])
    parser = argparse.ArgumentParser(prog="report.py markdown")
    parser.add_argument("command", choices=["markdown"])
    parser.add_argument("samples")
    parser.add_argument("--chart", help="file name of the chart to link")
    parser.add_argument("--chart-data", help="where to write the chart's data")
    return markdown(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
