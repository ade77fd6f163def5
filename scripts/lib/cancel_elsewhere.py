#!/usr/bin/env python3
"""Cancels a query by sending the CancelRequest to another port than the
session's: to another pgvalve instance of the same fleet, which must send
it on to the instance that owns the session.

    cancel_elsewhere.py SESSION_PORT CANCEL_PORT [--database DB] [--user U]
                        [--wrong-secret]

Opens a session on 127.0.0.1:SESSION_PORT (trust authentication), runs
SELECT pg_sleep(30) in it and sends the session's key in a CancelRequest to
127.0.0.1:CANCEL_PORT. Prints one line saying what the session got back and
exits 0 when that was SQLSTATE 57014 (query_canceled), 1 otherwise.

With --wrong-secret the CancelRequest carries the secret with one bit
flipped, and the query must still run a second later. Then a CancelRequest
with the right secret ends it, so that the session does not sit out its
sleep. Exits 0 when the wrong secret cancelled nothing and the right one
cancelled the query.

libpq cannot do this (PQcancel always goes to the session's own address),
so the protocol is spoken by hand: v3.0, standard library only. Every read
is bounded by a timeout.
"""

import argparse
import select
import socket
import struct
import sys
import time

HOST = "127.0.0.1"
READ_TIMEOUT = 10.0  # seconds, for every read
RUN_FIRST = 0.3  # seconds between sending the query and cancelling it
STILL_RUNNING = 1.0  # seconds a query must outlive a wrong CancelRequest
PROTOCOL_3_0 = 3 << 16
CANCEL_REQUEST_CODE = 80877102  # 1234 << 16 | 5678
QUERY_CANCELED = "57014"
QUERY = "SELECT pg_sleep(30)"


class ProtocolFailure(Exception):
    """Something other than the expected came back, or nothing in time."""


def recv_exact(sock, count):
    data = bytearray()
    sock.settimeout(READ_TIMEOUT)
    while len(data) < count:
        try:
            chunk = sock.recv(count - len(data))
        except socket.timeout as error:
            raise ProtocolFailure(f"nothing within {READ_TIMEOUT:g} s") from error
        if not chunk:
            raise ProtocolFailure("the server closed the connection")
        data += chunk
    return bytes(data)


def read_message(sock):
    """Returns (tag, body) of the next backend message."""
    header = recv_exact(sock, 5)
    tag = chr(header[0])
    (length,) = struct.unpack("!i", header[1:])
    if length < 4:
        raise ProtocolFailure(f"message {tag!r} declares length {length}")
    return tag, recv_exact(sock, length - 4)


def message(tag, body):
    return tag.encode() + struct.pack("!i", len(body) + 4) + body


def error_fields(body):
    """The fields of an ErrorResponse or NoticeResponse, by field type."""
    fields = {}
    for field in body.split(b"\0"):
        if field:
            fields[chr(field[0])] = field[1:].decode(errors="replace")
    return fields


def describe_error(fields):
    return f"{fields.get('V', fields.get('S', '?'))} {fields.get('C', '?')} {fields.get('M', '')}"


def start_session(port, user, database):
    """Connects and reads up to ReadyForQuery; returns (socket, pid, secret)."""
    sock = socket.create_connection((HOST, port), timeout=READ_TIMEOUT)
    parameters = b"".join(
        name.encode() + b"\0" + value.encode() + b"\0"
        for name, value in (("user", user), ("database", database))
    )
    body = struct.pack("!i", PROTOCOL_3_0) + parameters + b"\0"
    sock.sendall(struct.pack("!i", len(body) + 4) + body)
    key = None
    while True:
        tag, body = read_message(sock)
        if tag == "R":
            (code,) = struct.unpack("!i", body[:4])
            if code != 0:
                raise ProtocolFailure(f"authentication request {code}; only trust is supported")
        elif tag == "K":
            # Int32 pid, then the secret: the rest of the message (4 bytes
            # in protocol 3.0, up to 256 in 3.2).
            (pid,) = struct.unpack("!I", body[:4])
            key = (pid, body[4:])
        elif tag == "E":
            raise ProtocolFailure(f"startup refused: {describe_error(error_fields(body))}")
        elif tag == "Z":
            break
    if key is None:
        raise ProtocolFailure("no BackendKeyData before ReadyForQuery")
    return sock, key[0], key[1]


def send_cancel(port, pid, secret):
    """Sends a CancelRequest on a connection of its own and waits until the
    server closes it, which it does after acting on it (or not)."""
    body = struct.pack("!iI", CANCEL_REQUEST_CODE, pid) + secret
    with socket.create_connection((HOST, port), timeout=READ_TIMEOUT) as sock:
        sock.sendall(struct.pack("!i", len(body) + 4) + body)
        sock.settimeout(READ_TIMEOUT)
        try:
            while sock.recv(256):
                pass
        except socket.timeout as error:
            raise ProtocolFailure(
                f"port {port} did not close the cancel connection within {READ_TIMEOUT:g} s"
            ) from error


def read_outcome(sock):
    """Reads up to ReadyForQuery; returns the first error's fields, or None
    when the query completed."""
    error = None
    while True:
        tag, body = read_message(sock)
        if tag == "E" and error is None:
            error = error_fields(body)
        elif tag == "Z":
            return error


def cancel_and_report(sock, prefix, cancel_port, pid, secret):
    """Cancels the running query through cancel_port; prints what came back
    and returns whether it was query_canceled."""
    sent_at = time.monotonic()
    send_cancel(cancel_port, pid, secret)
    error = read_outcome(sock)
    elapsed_ms = (time.monotonic() - sent_at) * 1000
    if error is None:
        print(f"{prefix} -> the query completed, {elapsed_ms:.1f} ms after the CancelRequest")
        return False
    print(f"{prefix} -> {describe_error(error)}, {elapsed_ms:.1f} ms after the CancelRequest")
    return error.get("C") == QUERY_CANCELED


def run(args):
    sock, pid, secret = start_session(args.session_port, args.user, args.database)
    with sock:
        sock.sendall(message("Q", QUERY.encode() + b"\0"))
        # Pacing only: a CancelRequest that arrives before the query reached
        # PostgreSQL would cancel nothing.
        time.sleep(RUN_FIRST)
        session = f"session on port {args.session_port} (virtual pid {pid})"
        if not args.wrong_secret:
            ok = cancel_and_report(
                sock, f"{session}: cancel sent to port {args.cancel_port}", args.cancel_port, pid, secret
            )
        else:
            wrong = bytes([secret[0] ^ 1]) + secret[1:]
            send_cancel(args.cancel_port, pid, wrong)
            readable, _, _ = select.select([sock], [], [], STILL_RUNNING)
            if readable:
                error = read_outcome(sock)
                what = describe_error(error) if error else "the query completed"
                print(f"{session}: cancel with a wrong secret sent to port {args.cancel_port} -> {what}")
                ok = False
            else:
                print(
                    f"{session}: cancel with a wrong secret sent to port {args.cancel_port}"
                    f" -> nothing, the query still runs {STILL_RUNNING:g} s later"
                )
                ok = cancel_and_report(
                    sock,
                    f"{session}: then the right secret sent to port {args.cancel_port}",
                    args.cancel_port,
                    pid,
                    secret,
                )
        sock.sendall(message("X", b""))
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser(
        description="Cancel a query by sending the CancelRequest to another port than the session's."
    )
    parser.add_argument("session_port", type=int, metavar="SESSION_PORT")
    parser.add_argument("cancel_port", type=int, metavar="CANCEL_PORT")
    parser.add_argument("--database", default="postgres")
    parser.add_argument("--user", default="postgres")
    parser.add_argument(
        "--wrong-secret",
        action="store_true",
        help="flip a bit of the secret and expect that nothing is cancelled",
    )
    args = parser.parse_args()
    try:
        return run(args)
    except (OSError, ProtocolFailure) as error:
        print(f"cancel_elsewhere: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
