#!/usr/bin/python3
"""Polls a Prometheus /metrics page and writes the samples of some families.

    metrics_sampler.py --url URL --family NAME [--family NAME ...]
                       [--output FILE] [--interval 0.1] [--duration SECONDS]
                       [--t0 EPOCH_SECONDS] [--user USER:PASSWORD]
    metrics_sampler.py --self-test

Scrapes until SIGTERM or SIGINT (then it flushes and exits 0) or until
--duration has passed. Each scrape adds one line per sample of the families
asked for, tab-separated:

    seconds  family  labels  value

seconds: when the scrape began, since --t0 (a Unix time, so that other
files can share the clock) or since the sampler started; family: the
sample's name; labels: name="value" pairs joined by commas, the values
escaped as in the text format (backslash, double quote, line feed) and a
tab as \\t, or empty; value: as the page gave it. Each scrape also adds a
line for the family `up`, as Prometheus does: 1 when the page was read, 0
when it was not (pgvalve not listening yet, or gone). A gauge with no
sample in a scrape that succeeded is absent, not 0: readers decide.

Python's standard library only; it runs under /usr/bin/python3.
"""

import argparse
import base64
import math
import signal
import sys
import time
import urllib.error
import urllib.request

# A histogram's or summary's samples carry its family name plus one of these.
FAMILY_SUFFIXES = ("_bucket", "_sum", "_count")
ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


def _is_name_char(c, first):
    return c == "_" or c == ":" or ("a" <= c <= "z") or ("A" <= c <= "Z") or (not first and "0" <= c <= "9")


def _read_name(line, i, what):
    start = i
    while i < len(line) and _is_name_char(line[i], i == start):
        i += 1
    if i == start:
        raise ValueError(f"expected a {what} at column {start + 1}: {line!r}")
    return line[start:i], i


def _skip_blanks(text, i, closing):
    # Prometheus's own parser allows blanks around label names, = and ,;
    # this file's TSV (closing None) has none.
    while closing is not None and i < len(text) and text[i] in " \t":
        i += 1
    return i


def parse_labels(text, i=0, closing="}"):
    """Parses name="value" pairs from text[i:] up to `closing` (or the end
    when closing is None); returns (labels as a tuple of pairs, index after
    the closing brace)."""
    labels = []
    while True:
        i = _skip_blanks(text, i, closing)
        if closing is not None and i < len(text) and text[i] == closing:
            return tuple(labels), i + 1
        if closing is None and i == len(text):
            return tuple(labels), i
        name, i = _read_name(text, i, "label name")
        i = _skip_blanks(text, i, closing)
        if text[i:i + 1] != "=":
            raise ValueError(f"expected = after label {name}: {text!r}")
        i = _skip_blanks(text, i + 1, closing)
        if text[i:i + 1] != '"':
            raise ValueError(f"expected a quoted value of label {name}: {text!r}")
        i += 1
        value = []
        while True:
            if i >= len(text):
                raise ValueError(f"unterminated value of label {name}: {text!r}")
            c = text[i]
            if c == '"':
                i += 1
                break
            if c == "\\":
                escaped = text[i + 1:i + 2]
                if closing is None and escaped == "t":
                    value.append("\t")  # only in this file's TSV, see format_labels
                elif escaped in ESCAPES:
                    value.append(ESCAPES[escaped])
                else:
                    raise ValueError(f"invalid escape \\{escaped} in label {name}: {text!r}")
                i += 2
            else:
                value.append(c)
                i += 1
        labels.append((name, "".join(value)))
        i = _skip_blanks(text, i, closing)
        if i < len(text) and text[i] == ",":
            i += 1  # the format allows a comma before the closing brace
        elif closing is not None and (i >= len(text) or text[i] != closing):
            raise ValueError(f"expected , or }} after label {name}: {text!r}")


def parse_line(line):
    """One line of the text format: None for a comment or a blank line,
    else (name, labels, value as float)."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    name, i = _read_name(line, 0, "metric name")
    labels = ()
    if i < len(line) and line[i] == "{":
        labels, i = parse_labels(line, i + 1)
    rest = line[i:].split()
    if not rest or len(rest) > 2 or not line[i:i + 1].isspace():
        raise ValueError(f"expected a value (and perhaps a timestamp) after {name}: {line!r}")
    try:
        value = float(rest[0])  # "NaN", "+Inf" and "-Inf" included
    except ValueError:
        raise ValueError(f"bad value {rest[0]!r}: {line!r}") from None
    return name, labels, value


def parse_exposition(text):
    """Every sample of a page, in order, as (name, labels, value)."""
    return [sample for sample in map(parse_line, text.split("\n")) if sample is not None]


def family_of(name, families):
    """The family asked for that sample `name` belongs to, or None."""
    if name in families:
        return name
    for suffix in FAMILY_SUFFIXES:
        if name.endswith(suffix) and name[:-len(suffix)] in families:
            return name[:-len(suffix)]
    return None


def format_labels(labels):
    escaped = []
    for name, value in labels:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        escaped.append(f'{name}="{value}"')
    return ",".join(escaped)


def read_labels(field):
    """The labels field of this file's TSV back as a tuple of pairs."""
    return parse_labels(field, 0, closing=None)[0]


def format_value(value):
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


class Stop(Exception):
    """Raised by the signal handler to end the loop between two writes."""


def _stop(signum, frame):
    raise Stop()


def sample(args):
    families = set(args.family)
    headers = {}
    if args.user:
        headers["Authorization"] = "Basic " + base64.b64encode(args.user.encode()).decode()
    t0 = args.t0 if args.t0 is not None else time.time()
    out = open(args.output, "w", encoding="utf-8") if args.output != "-" else sys.stdout
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    started = time.monotonic()
    next_scrape = started
    try:
        while args.duration is None or time.monotonic() - started < args.duration:
            seconds = time.time() - t0
            rows = []
            try:
                request = urllib.request.Request(args.url, headers=headers)
                with urllib.request.urlopen(request, timeout=args.timeout) as response:
                    page = response.read().decode("utf-8")
                for name, labels, value in parse_exposition(page):
                    if family_of(name, families):
                        rows.append(f"{seconds:.3f}\t{name}\t{format_labels(labels)}\t{format_value(value)}\n")
                rows.append(f"{seconds:.3f}\tup\t\t1\n")
            except (OSError, urllib.error.URLError, ValueError, UnicodeDecodeError) as error:
                rows = [f"{seconds:.3f}\tup\t\t0\n"]
                if args.verbose:
                    print(f"metrics_sampler: {seconds:.3f} s: {error}", file=sys.stderr)
            # One write per scrape: a signal lands between scrapes' lines,
            # never inside one.
            out.write("".join(rows))
            out.flush()
            next_scrape += args.interval
            now = time.monotonic()
            if next_scrape < now:  # a slow scrape: skip the missed ticks
                next_scrape = now + args.interval - (now - next_scrape) % args.interval
            time.sleep(next_scrape - now)
    except Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        out.flush()
        if out is not sys.stdout:
            out.close()
    return 0


SELF_TEST_PAGE = r"""# HELP pgvalve_sessions Sessions by database and state; a \\ and a \n in HELP.
# TYPE pgvalve_sessions gauge
pgvalve_sessions{database="app",state="idle"} 3
pgvalve_sessions{database="app",state="idle in transaction (aborted)"} 1
pgvalve_sessions{ database = "we\"ird, db=x}" ,state="held"} 2
pgvalve_sessions{database="back\\slash\nnewline",state="active",} 4 1700000000000

# a comment that is no HELP or TYPE
pgvalve_held_requests{database="app"} 0
pgvalve_upstream_connect_seconds_bucket{upstream="blue",le="+Inf"} 7
pgvalve_upstream_connect_seconds_sum{upstream="blue"} 0.0125
process_open_fds 21
odd_value NaN
up_forever +Inf
"""


def self_test():
    samples = parse_exposition(SELF_TEST_PAGE)
    expected = [
        ("pgvalve_sessions", (("database", "app"), ("state", "idle")), 3.0),
        ("pgvalve_sessions", (("database", "app"), ("state", "idle in transaction (aborted)")), 1.0),
        ("pgvalve_sessions", (("database", 'we"ird, db=x}'), ("state", "held")), 2.0),
        ("pgvalve_sessions", (("database", "back\\slash\nnewline"), ("state", "active")), 4.0),
        ("pgvalve_held_requests", (("database", "app"),), 0.0),
        ("pgvalve_upstream_connect_seconds_bucket", (("upstream", "blue"), ("le", "+Inf")), 7.0),
        ("pgvalve_upstream_connect_seconds_sum", (("upstream", "blue"),), 0.0125),
        ("process_open_fds", (), 21.0),
        ("odd_value", (), None),
        ("up_forever", (), math.inf),
    ]
    assert len(samples) == len(expected), samples
    for got, want in zip(samples, expected):
        assert got[:2] == want[:2], (got, want)
        if want[2] is None:
            assert math.isnan(got[2]), got
        else:
            assert got[2] == want[2], (got, want)

    families = {"pgvalve_sessions", "pgvalve_upstream_connect_seconds"}
    assert family_of("pgvalve_sessions", families) == "pgvalve_sessions"
    assert family_of("pgvalve_upstream_connect_seconds_bucket", families) == "pgvalve_upstream_connect_seconds"
    assert family_of("pgvalve_sessions_total", families) is None
    assert family_of("process_open_fds", families) is None

    # This file's labels field reads back to the same pairs, a tab included.
    for labels in [samples[2][1], samples[3][1], (), (("a", "tab\there"),)]:
        field = format_labels(labels)
        assert "\t" not in field and "\n" not in field, field
        assert read_labels(field) == labels, (field, labels)
    assert format_labels(samples[2][1]) == r'database="we\"ird, db=x}",state="held"'
    assert format_value(3.0) == "3" and format_value(0.0125) == "0.0125"
    assert format_value(math.nan) == "NaN" and format_value(-math.inf) == "-Inf"

    for bad in ['x{a="b} 1', 'x{a="\\q"} 1', 'x{a=b} 1', "x", 'x{a="b"}1', "x 1 2 3", "x one", '{a="b"} 1']:
        try:
            parse_line(bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad!r}")
    print("metrics_sampler: self-test ok")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--self-test", action="store_true", help="check the parser and exit")
    parser.add_argument("--url", help="the /metrics address")
    parser.add_argument("--family", action="append", default=[], help="a family to keep (repeat)")
    parser.add_argument("--output", default="-", help="the TSV (default: stdout)")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between scrapes (0.1)")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--t0", type=float, help="Unix time that seconds count from")
    parser.add_argument("--user", help="USER:PASSWORD for basic authentication")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per scrape (2)")
    parser.add_argument("--verbose", action="store_true", help="report failed scrapes on stderr")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not args.url or not args.family:
        parser.error("--url and at least one --family are needed")
    if args.interval <= 0:
        parser.error("--interval must be positive")
    return sample(args)


if __name__ == "__main__":
    sys.exit(main())
