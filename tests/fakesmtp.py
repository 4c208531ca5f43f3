#!/usr/bin/python3
"""fakesmtp.py - a scripted fake SMTP server for the protocol cases.

Listens on 127.0.0.1, port 0 (the kernel picks one), prints "PORT n" on
stdout (and writes n to --portfile), then serves one connection per
"connection" block of the script, running the block's directives in
order.  It records exactly what the client sent: every command line
(without its line end), the raw bytes of each message ("data"
directive, still dot-stuffed, without the final ".\\r\\n"), and failure
markers ("!! ...") when the client misbehaves.  The record is a JSON
file (--record) rewritten after every event, so it survives a kill.

It never hangs: every wait is bounded by the overall deadline
(--timeout, default 30 s), and SIGUSR1 ("the client has exited")
makes it stop waiting for connections that will never come.

The directives are documented in tests/cases/README.md.  Standard
library only; run with /usr/bin/python3.
"""

import argparse
import json
import os
import re
import select
import signal
import socket
import struct
import sys
import time

# A client waiting for a reply must never wait on us for longer than
# this after the script ended; plenty for any client with --timeout=2.
DRAIN_LIMIT = 10.0
# "hang" keeps the socket open at most this long.
HANG_LIMIT = 20.0
# "strict": how long more client bytes may take to show up to count as
# pipelined.  Loopback delivers a pipelined write in microseconds.
STRICT_WAIT = 0.2
# RFC 5321 4.5.3.1.6 (text line 1000 octets incl. CRLF) and RFC 5322
# 2.1.1 (998 octets): the longest line of message data we accept.
DATA_LINE_MAX = 998

# Commands that may stand anywhere in a pipelined group (RFC 2920 3.1).
PIPELINE_MIDDLE = ("MAIL", "RCPT", "RSET", "SEND", "SOML", "SAML")


class Overall(Exception):
    """The overall deadline passed (SIGALRM)."""


class Stop(Exception):
    """SIGTERM: save what we have and leave."""


def unescape(text):
    """Decode the escapes of a script argument into bytes:
    \\r \\n \\t \\0 \\\\ \\xHH; anything else is taken literally."""
    out = bytearray()
    raw = text.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x5C and i + 1 < len(raw):  # backslash
            n = chr(raw[i + 1])
            if n == "r":
                out += b"\r"
            elif n == "n":
                out += b"\n"
            elif n == "t":
                out += b"\t"
            elif n == "0":
                out += b"\0"
            elif n == "\\":
                out += b"\\"
            elif n == "x" and re.fullmatch(rb"[0-9A-Fa-f]{2}",
                                           raw[i + 2:i + 4]):
                out.append(int(raw[i + 2:i + 4], 16))
                i += 4
                continue
            else:
                out += raw[i:i + 2]
            i += 2
            continue
        out.append(c)
        i += 1
    return bytes(out)


def parse_script(text):
    """Split the script into connection blocks of (lineno, verb, arg)."""
    blocks = [[]]
    explicit = False
    for no, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        # The argument keeps its inner and trailing blanks (after the
        # one separating space) so "send 250 " sends "250 ".
        m = re.match(r"\s*(\S+)(?: (.*))?$", line)
        verb, arg = m.group(1).lower(), m.group(2) or ""
        if verb == "connection":
            if explicit or blocks[-1]:
                blocks.append([])
            explicit = True
            continue
        if verb not in DIRECTIVES:
            raise SystemExit("fakesmtp: line %d: unknown directive %r"
                             % (no, verb))
        blocks[-1].append((no, verb, arg))
    if explicit and not blocks[0]:
        blocks.pop(0)
    return blocks


class Recorder:
    """What the client did, saved as JSON after every event."""

    def __init__(self, path):
        self.path = path
        self.rec = {"connections": 0, "lines": [], "data": [],
                    "markers": [], "transcript": [], "done": False}
        self.t0 = time.monotonic()

    def _t(self):
        return round(time.monotonic() - self.t0, 3)

    def save(self):
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.rec, f, indent=0)
        os.replace(tmp, self.path)

    def note(self, who, what):
        if isinstance(what, bytes):
            what = what.decode("latin-1")
        self.rec["transcript"].append([self._t(), who, what])
        self.save()

    def line(self, b):
        self.rec["lines"].append(b.decode("latin-1"))
        self.note("C", b)

    def data(self, b):
        self.rec["data"].append(b.decode("latin-1"))
        self.note("D", "%d bytes" % len(b))

    def marker(self, text):
        if isinstance(text, bytes):
            text = text.decode("latin-1")
        self.rec["markers"].append("!! " + text)
        self.note("!", text)


class Conn:
    """One client connection: a byte buffer over the socket."""

    def __init__(self, sock, rec, deadline):
        self.sock = sock
        self.rec = rec
        self.deadline = deadline
        self.buf = bytearray()
        self.eof = False
        self.closed = False
        self.strict = None      # None, "all" or "pipelining"

    def remaining(self, limit=None):
        r = self.deadline - time.monotonic()
        if limit is not None:
            r = min(r, limit)
        return max(r, 0.0)

    def fill(self, timeout):
        """Read more bytes; False on timeout, EOF sets self.eof."""
        if self.eof or self.closed:
            return False
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return False
        try:
            b = self.sock.recv(65536)
        except (ConnectionResetError, OSError):
            b = b""
        if not b:
            self.eof = True
            return False
        self.buf += b
        return True

    def readline(self, limit=None):
        """One line without its end, and the end (b"\\r\\n", b"\\n", or
        b"" at EOF with a partial line); None on EOF/timeout."""
        end = time.monotonic() + (limit if limit is not None else 1e9)
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 1]
                if line.endswith(b"\r"):
                    return line[:-1], b"\r\n"
                return line, b"\n"
            if self.eof or self.closed:
                if self.buf:
                    line = bytes(self.buf)
                    self.buf.clear()
                    return line, b""
                return None, b"EOF"
            left = min(end, self.deadline) - time.monotonic()
            if left <= 0:
                return None, b"TIMEOUT"
            self.fill(min(left, 1.0))

    def send(self, data):
        if self.closed:
            return
        self.rec.note("S", data)
        try:
            self.sock.settimeout(max(self.remaining(), 0.1))
            self.sock.sendall(data)
        except OSError as e:
            self.rec.note("#", "send failed: %s" % e)
        finally:
            self.sock.settimeout(None)

    def pipelined_check(self):
        """Strict mode: are more client bytes already on their way?"""
        if self.buf:
            return True
        if self.eof or self.closed:
            return False
        r, _, _ = select.select([self.sock], [], [], STRICT_WAIT)
        if not r:
            return False
        try:
            b = self.sock.recv(65536, socket.MSG_PEEK)
        except OSError:
            return False
        return bool(b)

    def close(self, abrupt=False):
        if self.closed:
            return
        if abrupt:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        else:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.sock.close()
        self.closed = True
        self.rec.note("#", "dropped (RST)" if abrupt else "closed")


def check_line_end(conn, line, end):
    if end == b"\n":
        conn.rec.marker(b"LF-only line end: " + line)
    elif end == b"":
        conn.rec.marker(b"line without line end before EOF: " + line)
    if b"\r" in line:
        conn.rec.marker(b"bare CR in command line: " + line)


def check_data(rec, data):
    """Data must be CRLF only, no line over 998 octets (unstuffed)."""
    for m in re.finditer(rb"\r(?!\n)|(?<!\r)\n", data):
        rec.marker("bare %s in data at offset %d"
                   % ("CR" if data[m.start()] == 13 else "LF", m.start()))
        break
    for ln in data.split(b"\r\n"):
        n = len(ln) - (1 if ln.startswith(b"..") else 0)
        if n > DATA_LINE_MAX:
            rec.marker("data line of %d octets" % n)
            break


# ---- directives -----------------------------------------------------------

def d_send(conn, arg):
    conn.send(unescape(arg) + b"\r\n")


def d_sendraw(conn, arg):
    conn.send(unescape(arg))


def d_sendpy(conn, arg):
    """Send the value of a Python expression (str or bytes) + CRLF."""
    v = eval(arg, {"__builtins__": __builtins__})
    conn.send((v.encode("latin-1") if isinstance(v, str) else bytes(v))
              + b"\r\n")


def d_expect(conn, arg):
    line, end = conn.readline()
    if line is None:
        conn.rec.marker("EOF" if end == b"EOF" else
                        "timeout waiting for %s" % (arg or "a command"))
        return False
    conn.rec.line(line)
    check_line_end(conn, line, end)
    verb = arg.strip()
    if verb and not line.upper().startswith(unescape(verb).upper()):
        conn.rec.marker(b"expected " + unescape(verb) + b" got " + line)
    if conn.strict:
        first = line.split(b" ", 1)[0].split(b":", 1)[0].upper()
        if (conn.strict == "pipelining"
                and first.decode("latin-1") in PIPELINE_MIDDLE):
            pass
        elif conn.pipelined_check():
            conn.rec.marker(b"PIPELINING VIOLATION after " + line)
    return True


def d_data(conn, arg):
    """Read message data up to CRLF.CRLF; record it still dot-stuffed."""
    while True:
        if conn.buf.startswith(b".\r\n"):
            data = b""
            del conn.buf[:3]
            break
        i = conn.buf.find(b"\r\n.\r\n")
        if i >= 0:
            data = bytes(conn.buf[:i + 2])
            del conn.buf[:i + 5]
            break
        if conn.eof or conn.closed or conn.remaining() <= 0:
            data = bytes(conn.buf)
            conn.buf.clear()
            conn.rec.data(data)
            conn.rec.marker("%s in data after %d bytes" %
                            ("EOF" if conn.eof else "timeout", len(data)))
            return False
        conn.fill(min(conn.remaining(), 1.0))
    conn.rec.data(data)
    check_data(conn.rec, data)
    if conn.strict and conn.pipelined_check():
        conn.rec.marker("PIPELINING VIOLATION after the data")
    return True


def d_sleep(conn, arg):
    time.sleep(min(float(arg), conn.remaining()))


def d_close(conn, arg):
    conn.close()
    return False


def d_drop(conn, arg):
    conn.close(abrupt=True)
    return False


def d_shutdown(conn, arg):
    """Half-close: the client reads EOF, we still record what it sends."""
    try:
        conn.sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    conn.rec.note("#", "shutdown(SHUT_WR)")


def d_hang(conn, arg):
    """Say nothing more; record lines until the client closes."""
    limit = float(arg) if arg.strip() else HANG_LIMIT
    end = time.monotonic() + limit
    while True:
        left = end - time.monotonic()
        if left <= 0:
            conn.rec.note("#", "hang: limit reached")
            conn.close()
            return False
        line, e = conn.readline(limit=left)
        if line is None:
            return False
        conn.rec.line(line)


def d_drip(conn, arg):
    secs, _, text = arg.partition(" ")
    secs = float(secs)
    for ch in unescape(text) + b"\r\n":
        if conn.closed or conn.remaining() <= 0:
            return False
        try:
            conn.sock.send(bytes([ch]))
        except OSError as e:
            conn.rec.note("#", "drip: send failed: %s" % e)
            return False
        time.sleep(secs)
    conn.rec.note("S", "(dripped) " + text)


def d_flood(conn, arg):
    n, _, text = arg.partition(" ")
    conn.rec.note("#", "flood %s x %r" % (n, text))
    chunk = unescape(text) + b"\r\n"
    n = int(n)
    per = max(1, 65536 // len(chunk))
    try:
        conn.sock.settimeout(max(conn.remaining(), 0.1))
        while n > 0 and not conn.closed:
            k = min(n, per)
            conn.sock.sendall(chunk * k)
            n -= k
    except OSError as e:
        conn.rec.note("#", "flood: send failed: %s" % e)
    finally:
        if not conn.closed:
            conn.sock.settimeout(None)


def d_strict(conn, arg):
    conn.strict = "pipelining" if arg.strip() == "pipelining" else "all"


def d_nostrict(conn, arg):
    conn.strict = None


def d_eof(conn, arg):
    """The client must close now without sending anything."""
    limit = float(arg) if arg.strip() else DRAIN_LIMIT
    end = time.monotonic() + limit
    while True:
        left = end - time.monotonic()
        if left <= 0:
            conn.rec.marker("client did not close within %gs" % limit)
            conn.close()
            return False
        line, e = conn.readline(limit=left)
        if line is None:
            if e == b"EOF":
                return False
            continue
        conn.rec.line(line)
        conn.rec.marker(b"unexpected " + line)


DIRECTIVES = {
    "send": d_send, "sendraw": d_sendraw, "sendpy": d_sendpy,
    "expect": d_expect,
    "data": d_data, "sleep": d_sleep, "close": d_close, "drop": d_drop,
    "shutdown": d_shutdown, "hang": d_hang, "drip": d_drip,
    "flood": d_flood, "strict": d_strict, "nostrict": d_nostrict,
    "eof": d_eof,
}


def drain(conn):
    """After the script: record what else comes until the client closes.
    QUIT gets 221 (so a polite client ends at once); anything else gets
    421 and the connection is closed, so no client waits on us."""
    end = time.monotonic() + DRAIN_LIMIT
    while not conn.closed:
        left = end - time.monotonic()
        if left <= 0:
            conn.rec.note("#", "drain: limit reached")
            return
        line, e = conn.readline(limit=left)
        if line is None:
            return
        conn.rec.line(line)
        check_line_end(conn, line, e)
        if line.upper().startswith(b"QUIT"):
            conn.send(b"221 2.0.0 fakesmtp: bye\r\n")
        else:
            conn.send(b"421 4.3.0 fakesmtp: script ended\r\n")
            conn.close()
            return


def run_connection(sock, block, rec, deadline):
    conn = Conn(sock, rec, deadline)
    try:
        for no, verb, arg in block:
            if DIRECTIVES[verb](conn, arg) is False:
                break
        # Also after an early end (EOF, hang): drain sees the EOF at once.
        drain(conn)
    finally:
        if not conn.closed:
            conn.close()


client_gone = False


def main():
    global client_gone
    ap = argparse.ArgumentParser(description="scripted fake SMTP server")
    ap.add_argument("script", help="script file ('-' for stdin)")
    ap.add_argument("--record", help="JSON file for what the client sent")
    ap.add_argument("--portfile", help="write the port number here")
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="overall limit in seconds (default 30)")
    a = ap.parse_args()

    text = (sys.stdin.read() if a.script == "-"
            else open(a.script, encoding="utf-8").read())
    blocks = parse_script(text)
    rec = Recorder(a.record)
    deadline = time.monotonic() + a.timeout

    def on_alarm(*_):
        raise Overall()

    def on_term(*_):
        raise Stop()

    def on_usr1(*_):
        global client_gone
        client_gone = True

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGUSR1, on_usr1)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.setitimer(signal.ITIMER_REAL, a.timeout + 1.0)

    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    port = ls.getsockname()[1]
    rec.save()
    if a.portfile:
        with open(a.portfile + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.replace(a.portfile + ".tmp", a.portfile)
    print("PORT %d" % port, flush=True)

    status = 0
    try:
        for i, block in enumerate(blocks):
            sock = None
            while sock is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    rec.note("#", "no connection before the deadline")
                    break
                r, _, _ = select.select([ls], [], [], min(left, 0.1))
                if r:
                    sock, _ = ls.accept()
                elif client_gone:
                    break
            if sock is None:
                break
            rec.rec["connections"] += 1
            if i:
                rec.rec["lines"].append("#CONN %d" % (i + 1))
            rec.note("#", "connection %d" % (i + 1))
            run_connection(sock, block, rec, deadline)
    except Overall:
        rec.marker("fakesmtp: overall timeout (%gs)" % a.timeout)
        status = 2
    except Stop:
        rec.note("#", "terminated")
        status = 3
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        rec.rec["done"] = True
        rec.save()
        ls.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
