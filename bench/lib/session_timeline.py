#!/usr/bin/python3
"""Turns metrics_sampler.py's TSV into the data of session_timeline.gp.

    session_timeline.py SAMPLES.tsv [--events EVENTS.tsv] [--origin LABEL]
                        [--database NAME] --data OUT.dat --settings OUT.gp

SAMPLES.tsv: metrics_sampler.py's lines (seconds, family, labels, value).
EVENTS.tsv: optional, one "seconds<TAB>label" a line on the same clock,
e.g. when a DRAIN was sent and when it returned.

OUT.dat has one row per successful scrape: the time, pgvalve_sessions by
state (STATES, then `other` for any state this list does not know),
pgvalve_held_requests and pgvalve_drain_sessions_remaining, summed over the
databases (or only NAME's). A family or state without a sample in a scrape
counts 0 there. The time is shifted so that the first event whose label
begins with LABEL (default: the first event) is 0, and the rows are cut to
the span where something happened (sessions or events), with a margin.

OUT.gp sets for session_timeline.gp: the x range and label, whether the
held-requests and drain families were exported at all, and an arrow and a
label per event.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_sampler import read_labels  # noqa: E402

# pgvalve_sessions' states in SHOW CLIENTS' words, in the data's column
# order (session_timeline.gp stacks them in this order, first at the bottom).
STATES = ["active", "idle in transaction", "idle in transaction (aborted)", "idle", "starting", "held"]
OTHER_FAMILIES = ["pgvalve_held_requests", "pgvalve_drain_sessions_remaining"]
# Event labels are placed in rows above the top panel; a label takes the
# next row when it would run into the one before it. Widths are estimates
# for session_timeline.gp's size and font.
PLOT_WIDTH_PX = 900
CHAR_PX = 8
LABEL_ROWS = 4


def read_samples(path, database):
    """{seconds: {"up": bool, "sessions": {state: n}, family: n}} per scrape."""
    scrapes = {}
    exported = set()
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.endswith("\n"):
                break  # cut short: the sampler was killed while writing it
            fields = line[:-1].split("\t")
            if len(fields) != 4:
                raise SystemExit(f"{path}:{number}: expected 4 fields, got {len(fields)}")
            seconds, family, labels_field, value = fields
            scrape = scrapes.setdefault(float(seconds), {"up": False, "sessions": {}})
            if family == "up":
                scrape["up"] = value == "1"
                continue
            labels = dict(read_labels(labels_field))
            if database is not None and labels.get("database") != database:
                continue
            exported.add(family)
            if family == "pgvalve_sessions":
                state = labels.get("state", "")
                state = state if state in STATES else "other"
                scrape["sessions"][state] = scrape["sessions"].get(state, 0) + float(value)
            elif family in OTHER_FAMILIES:
                scrape[family] = scrape.get(family, 0) + float(value)
    return {t: s for t, s in scrapes.items() if s["up"]}, exported


def read_events(path):
    events = []
    if path is None:
        return events
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            seconds, _, label = line.rstrip("\n").partition("\t")
            try:
                events.append((float(seconds), label))
            except ValueError:
                raise SystemExit(f"{path}:{number}: expected seconds<TAB>label") from None
    return sorted(events)


def gnuplot_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("samples")
    parser.add_argument("--events")
    parser.add_argument("--origin", default="", help="the event that is 0 s: how its label begins")
    parser.add_argument("--database", help="only this database's samples (default: all, summed)")
    parser.add_argument("--data", required=True)
    parser.add_argument("--settings", required=True)
    parser.add_argument("--margin", type=float, default=0.5, help="seconds kept around the activity (0.5)")
    args = parser.parse_args()

    scrapes, exported = read_samples(args.samples, args.database)
    if not scrapes:
        raise SystemExit(f"{args.samples}: no successful scrape")
    events = read_events(args.events)
    zero = next((event for event in events if event[1].startswith(args.origin)), None)
    origin = zero[0] if zero else min(scrapes)

    busy = [t for t, s in scrapes.items() if any(s["sessions"].values())] + [t for t, _ in events]
    first = min(busy, default=min(scrapes)) - args.margin
    last = max(busy, default=max(scrapes)) + args.margin
    times = [t for t in sorted(scrapes) if first <= t <= last]
    bottom_peak = 0
    with open(args.data, "w", encoding="utf-8") as out:
        out.write("# seconds\t" + "\t".join(STATES + ["other"] + OTHER_FAMILIES) + "\n")
        for t in times:
            scrape = scrapes[t]
            values = [scrape["sessions"].get(state, 0) for state in STATES + ["other"]]
            values += [scrape.get(family, 0) for family in OTHER_FAMILIES]
            bottom_peak = max([bottom_peak] + values[-len(OTHER_FAMILIES):])
            out.write(f"{t - origin:.3f}\t" + "\t".join(f"{v:g}" for v in values) + "\n")

    x_min, x_max = max(first, min(scrapes)) - origin, min(last, max(scrapes)) - origin
    settings = [
        f"x_min = {x_min:.3f}",
        f"x_max = {x_max:.3f}",
        "x_label = " + gnuplot_string(f"seconds since {zero[1]}" if zero else "seconds since the first scrape"),
        f"has_held_requests = {int('pgvalve_held_requests' in exported)}",
        f"has_drain_remaining = {int('pgvalve_drain_sessions_remaining' in exported)}",
        f"bottom_peak = {bottom_peak:g}",
        f"has_other_state = {int(any(s['sessions'].get('other') for s in scrapes.values()))}",
    ]
    row_ends = [-1e9] * LABEL_ROWS  # in pixels, where each row's last label ends
    px_per_second = PLOT_WIDTH_PX / max(x_max - x_min, 1e-3)
    lines, tags = [], []
    for number, (seconds, label) in enumerate(events, 1):
        x = seconds - origin
        start_px = (x - x_min) * px_per_second
        row = next((r for r in range(LABEL_ROWS) if row_ends[r] < start_px), number % LABEL_ROWS)
        row_ends[row] = start_px + (len(label) + 3) * CHAR_PX
        lines.append(f"set arrow {number} from {x:.3f}, graph 0 to {x:.3f}, graph 1 as 1")
        tags.append(f"set arrow {100 + number} from {x:.3f}, graph 1 to {x:.3f}, "
                    f"graph 1 + {row + 1} * label_step as 2")
        tags.append(f"set label {number} {gnuplot_string(label)} at {x:.3f}, graph 1 + {row} * label_step "
                    "offset 0.4, 0.6 left front boxed")
    # Macros that session_timeline.gp runs (eval) per panel, once label_step
    # is known: the lines in both panels, the labels above the top one.
    settings.append("event_lines = " + gnuplot_string("; ".join(lines)))
    settings.append("event_tags = " + gnuplot_string("; ".join(tags)))
    with open(args.settings, "w", encoding="utf-8") as out:
        out.write("\n".join(settings) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
