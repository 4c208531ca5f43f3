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
import base64
import hashlib
import hmac
import json
import os
import re
import select
import signal
import socket
import ssl
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
# A TLS handshake (server side) must be over within this.
HANDSHAKE_LIMIT = 10.0
# Directory of the certificates (--certs): NAME.pem and NAME.key, and
# ca.pem (the CA that client certificates are checked against).
CERTS = None


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
        self.tls = False        # the socket is an ssl.SSLSocket
        self.tls_max = None     # "tls-max": highest version we allow
        self.tls_min = None     # "tls-min"
        self.client_cert = None  # None, "request" or "require"
        self.sni = None

    def remaining(self, limit=None):
        r = self.deadline - time.monotonic()
        if limit is not None:
            r = min(r, limit)
        return max(r, 0.0)

    def fill(self, timeout):
        """Read more bytes; False on timeout, EOF sets self.eof."""
        if self.eof or self.closed:
            return False
        if not (self.tls and self.sock.pending()):
            r, _, _ = select.select([self.sock], [], [], timeout)
            if not r:
                return False
        try:
            if self.tls:
                # Readable may be a partial record or an alert only.
                self.sock.settimeout(max(timeout, 0.05))
            b = self.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            return False
        except ssl.SSLError as e:
            self.rec.note("#", "TLS error while reading: %s" % e)
            b = b""
        except (ConnectionResetError, OSError):
            b = b""
        finally:
            if self.tls and not self.closed:
                try:
                    self.sock.settimeout(None)
                except OSError:
                    pass
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
        if self.tls:
            # no MSG_PEEK through TLS: read what comes into the buffer
            return self.fill(STRICT_WAIT) and bool(self.buf)
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


# ---- TLS ------------------------------------------------------------------

def cert_paths(name):
    if CERTS is None:
        raise SystemExit("fakesmtp: TLS directive without --certs")
    return (os.path.join(CERTS, name + ".pem"),
            os.path.join(CERTS, name + ".key"))


TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def server_context(conn, name):
    """The context for a handshake as the server with certificate NAME
    ("none": no certificate at all, anonymous ciphers only)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if name == "none":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("aNULL:@SECLEVEL=0")
    else:
        pem, key = cert_paths(name)
        ctx.load_cert_chain(pem, key)
    if conn.tls_max:
        ctx.maximum_version = TLS_VERSIONS[conn.tls_max]
    if conn.tls_min:
        ctx.minimum_version = TLS_VERSIONS[conn.tls_min]
    if conn.client_cert:
        ctx.load_verify_locations(os.path.join(CERTS, "ca.pem"))
        ctx.verify_mode = (ssl.CERT_REQUIRED if conn.client_cert == "require"
                           else ssl.CERT_OPTIONAL)

    def on_sni(sslobj, servername, sctx):
        conn.sni = servername
    ctx.sni_callback = on_sni
    return ctx


def peer_cn(conn):
    """CN of the client certificate, or None."""
    if not conn.tls:
        return None
    try:
        cert = conn.sock.getpeercert()
    except (ValueError, OSError):
        return None
    for rdn in (cert or {}).get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                return v
    return None


def d_starttls(conn, arg):
    """TLS handshake as the server, now (after our 220 to STARTTLS, or
    at the start of the connection for implicit TLS).  Arg: the
    certificate name in --certs (default "valid"), or "none"."""
    name = arg.strip() or "valid"
    if conn.tls:
        conn.rec.marker("TLS handshake requested inside TLS")
        return False
    if conn.buf:
        conn.rec.marker(b"client sent data after STARTTLS before the "
                        b"handshake: " + bytes(conn.buf[:80]))
        conn.buf.clear()
    ctx = server_context(conn, name)
    raw = conn.sock
    try:
        ss = ctx.wrap_socket(raw, server_side=True,
                             do_handshake_on_connect=False)
        ss.settimeout(max(conn.remaining(HANDSHAKE_LIMIT), 0.1))
        ss.do_handshake()
        ss.settimeout(None)
    except (ssl.SSLError, OSError) as e:
        conn.rec.marker("TLS handshake failed: %s" % e)
        try:
            raw.close()
        except OSError:
            pass
        conn.closed = True
        conn.rec.note("#", "closed")
        return False
    conn.sock = ss
    conn.tls = True
    info = {"version": ss.version(), "cipher": (ss.cipher() or ("",))[0],
            "cert": name, "sni": conn.sni, "client_cert": peer_cn(conn)}
    conn.rec.rec.setdefault("tls", []).append(info)
    conn.rec.note("#", "TLS %s %s cert=%s sni=%s client-cert=%s" % (
        info["version"], info["cipher"], name, conn.sni,
        info["client_cert"]))


def d_starttls_hang(conn, arg):
    """Say 220 to STARTTLS, then never do the handshake: swallow what
    the client sends (its ClientHello) until it closes or SECS pass."""
    limit = float(arg) if arg.strip() else HANG_LIMIT
    conn.send(b"220 2.0.0 Ready to start TLS\r\n")
    end = time.monotonic() + limit
    n = len(conn.buf)
    conn.buf.clear()
    while not conn.eof and not conn.closed:
        left = end - time.monotonic()
        if left <= 0:
            conn.rec.note("#", "starttls-hang: limit reached")
            break
        if conn.fill(min(left, 1.0)):
            n += len(conn.buf)
            conn.buf.clear()
    conn.rec.note("#", "starttls-hang: swallowed %d bytes" % n)
    conn.close()
    return False


def d_tls_max(conn, arg):
    v = arg.strip()
    if v not in TLS_VERSIONS:
        raise SystemExit("fakesmtp: tls-max 1.2|1.3")
    conn.tls_max = v


def d_tls_min(conn, arg):
    v = arg.strip()
    if v not in TLS_VERSIONS:
        raise SystemExit("fakesmtp: tls-min 1.2|1.3")
    conn.tls_min = v


def d_require_client_cert(conn, arg):
    conn.client_cert = "require"


def d_request_client_cert(conn, arg):
    conn.client_cert = "request"


# ---- AUTH (the server side of each SASL mechanism) ------------------------

AUTH_OK = b"235 2.7.0 Authentication successful\r\n"
AUTH_BAD = b"535 5.7.8 Authentication credentials invalid\r\n"


class AuthEnd(Exception):
    """The exchange is over: reason for a marker or a note, and whether
    the script goes on."""

    def __init__(self, go_on=False):
        Exception.__init__(self)
        self.go_on = go_on


def b64(b):
    return base64.b64encode(b)


def unb64(conn, text, what):
    try:
        if not re.fullmatch(rb"[A-Za-z0-9+/]*={0,2}", text) or \
                len(text) % 4:
            raise ValueError("not base64")
        return base64.b64decode(text, validate=True)
    except ValueError:
        conn.rec.marker(b"AUTH: invalid base64 in " + what.encode() +
                        b": " + text[:100])
        conn.send(b"501 5.5.2 Cannot decode response\r\n")
        raise AuthEnd()


def auth_read(conn, what):
    """Read one response line of the exchange; '*' cancels."""
    line, end = conn.readline()
    if line is None:
        conn.rec.marker("EOF" if end == b"EOF" else
                        "timeout waiting for the AUTH " + what)
        raise AuthEnd()
    conn.rec.line(line)
    check_line_end(conn, line, end)
    return line


def auth_challenge(conn, chal, what, raw=False):
    """Send '334 base64(chal)' (or chal as it is with raw), return the
    decoded response."""
    conn.send(b"334 " + (chal if raw else b64(chal)) + b"\r\n")
    line = auth_read(conn, what)
    if line == b"*":
        conn.rec.marker("AUTH cancelled by the client (at the %s)" % what)
        conn.send(b"501 5.7.0 Authentication cancelled\r\n")
        raise AuthEnd(go_on=True)
    return unb64(conn, line, what)


def auth_initial(conn, ir, what="initial response"):
    """The initial response: from the AUTH line, or after an empty 334."""
    if ir is None:
        return auth_challenge(conn, b"", what)
    if ir == b"=":
        return b""
    return unb64(conn, ir, what)


def auth_fail(conn, mech, reason, reply=AUTH_BAD):
    conn.rec.marker("AUTH FAILED: %s: %s" % (mech, reason))
    conn.send(reply)
    raise AuthEnd(go_on=True)


def sasl_plain(conn, ir, user, secret, opts):
    msg = auth_initial(conn, ir)
    parts = msg.split(b"\0")
    if len(parts) != 3:
        conn.rec.marker("AUTH PLAIN: not authzid NUL authcid NUL passwd")
        auth_fail(conn, "PLAIN", "malformed")
    authz, authc, pw = parts
    if authz not in (b"", authc):
        auth_fail(conn, "PLAIN", "authzid %r" % authz)
    if authc != user or pw != secret:
        auth_fail(conn, "PLAIN", "wrong user or password (user %r)" % authc)


LOGIN_PROMPTS = {
    # aiosmtpd: "User Name\0", "Password\0"
    "nul": (b"VXNlciBOYW1lAA==", b"UGFzc3dvcmQA"),
    "std": (b"VXNlcm5hbWU6", b"UGFzc3dvcmQ6"),   # "Username:", "Password:"
    "text": (b"Username:", b"Password:"),        # not base64 at all
}


def sasl_login(conn, ir, user, secret, opts):
    pu, pp = LOGIN_PROMPTS[opts.get("prompts", "nul")]
    if ir is not None:
        u = auth_initial(conn, ir)
    else:
        u = auth_challenge(conn, pu, "user name", raw=True)
    pw = auth_challenge(conn, pp, "password", raw=True)
    if u != user or pw != secret:
        auth_fail(conn, "LOGIN", "wrong user or password (user %r)" % u)


def sasl_cram_md5(conn, ir, user, secret, opts):
    if ir is not None:
        conn.rec.marker("AUTH CRAM-MD5 with an initial response")
    chal = opts.get("challenge", "<%d.%d@fakesmtp.test>" % (
        os.getpid(), int(time.time()))).encode()
    r = auth_challenge(conn, chal, "CRAM-MD5 response")
    want = user + b" " + hmac.new(secret, chal, "md5").hexdigest().encode()
    if r != want:
        auth_fail(conn, "CRAM-MD5", "wrong digest (got %r)" % r)


def saslname(b):
    return b.replace(b"=2C", b",").replace(b"=3D", b"=")


def sasl_scram(conn, ir, user, secret, opts, hname):
    mech = "SCRAM-" + hname.upper().replace("SHA", "SHA-")
    h = getattr(hashlib, hname)
    msg = auth_initial(conn, ir, "client-first message")
    m = re.fullmatch(rb"([ny]|p=[^,]*),(a=[^,]*)?,"
                     rb"(n=([^,]*),r=([\x21-\x2b\x2d-\x7e]+)(,.*)?)", msg)
    if not m:
        conn.rec.marker(b"AUTH " + mech.encode() +
                        b": malformed client-first: " + msg[:100])
        conn.send(b"501 5.5.2 Malformed SCRAM message\r\n")
        raise AuthEnd(go_on=True)
    if m.group(1).startswith(b"p"):
        auth_fail(conn, mech, "channel binding requested, not offered")
    bare = m.group(3)
    gs2 = msg[:len(msg) - len(bare)]
    name, cnonce = saslname(m.group(4)), m.group(5)
    snonce = opts.get("snonce", "").encode() or \
        b64(os.urandom(18)).replace(b"/", b"_")
    salt = base64.b64decode(opts["salt"]) if "salt" in opts \
        else os.urandom(16)
    iters = int(opts.get("iter", "4096"))
    nonce = cnonce + snonce
    first = b"r=" + nonce + b",s=" + b64(salt) + b",i=%d" % iters
    fin = auth_challenge(conn, first, "client-final message")
    m2 = re.fullmatch(rb"c=([^,]*),r=([^,]*)((?:,[^,]*)*?),p=([^,]*)", fin)
    if not m2:
        conn.rec.marker(b"AUTH " + mech.encode() +
                        b": malformed client-final: " + fin[:100])
        conn.send(b"501 5.5.2 Malformed SCRAM message\r\n")
        raise AuthEnd(go_on=True)
    if m2.group(2) != nonce:
        auth_fail(conn, mech, "nonce changed")
    try:
        cb = base64.b64decode(m2.group(1), validate=True)
        proof = base64.b64decode(m2.group(4), validate=True)
    except ValueError:
        auth_fail(conn, mech, "invalid base64 in client-final")
    if cb != gs2:
        auth_fail(conn, mech, "channel binding c=%r is not the gs2 header "
                  "%r" % (cb, gs2))
    without_proof = fin[:fin.rindex(b",p=")]
    auth_msg = bare + b"," + first + b"," + without_proof
    salted = hashlib.pbkdf2_hmac(hname, secret, salt, iters)
    ckey = hmac.new(salted, b"Client Key", h).digest()
    stored = h(ckey).digest()
    csig = hmac.new(stored, auth_msg, h).digest()
    if len(proof) != len(csig) or \
            h(bytes(a ^ b for a, b in zip(proof, csig))).digest() != stored:
        auth_fail(conn, mech, "wrong client proof (user %r)" % name)
    if name != user:
        auth_fail(conn, mech, "user %r" % name)
    skey = hmac.new(salted, b"Server Key", h).digest()
    ssig = hmac.new(skey, auth_msg, h).digest()
    bad = "bad-signature" in opts
    if bad:
        ssig = bytes(b ^ 0x5A for b in ssig)
    final = b"v=" + b64(ssig)
    if opts.get("final") == "235":
        # RFC 4422 3.6 additional data with success
        conn.send(b"235 2.7.0 " + b64(final) + b"\r\n")
        if bad:
            conn.rec.note("#", "AUTH %s: sent a wrong server signature "
                          "in the 235" % mech)
        raise AuthEnd(go_on=True)
    conn.send(b"334 " + b64(final) + b"\r\n")
    line = auth_read(conn, "answer to the server-final message")
    if bad:
        if line == b"*":
            conn.rec.note("#", "AUTH %s: the client cancelled after a wrong "
                          "server signature (right)" % mech)
            conn.send(b"501 5.7.0 Authentication cancelled\r\n")
            raise AuthEnd(go_on=True)
        if line.upper() == b"QUIT":
            conn.rec.note("#", "AUTH %s: the client quit after a wrong "
                          "server signature (right)" % mech)
            conn.send(b"221 2.0.0 Bye\r\n")
            conn.close()
            raise AuthEnd()
        conn.rec.marker(b"AUTH " + mech.encode() + b": the client "
                        b"accepted a wrong server signature: " + line[:80])
        conn.send(AUTH_OK)
        raise AuthEnd(go_on=True)
    if line == b"*":
        conn.rec.marker("AUTH %s: the client cancelled after a correct "
                        "server signature" % mech)
        conn.send(b"501 5.7.0 Authentication cancelled\r\n")
        raise AuthEnd(go_on=True)
    if line != b"":
        conn.rec.marker(b"AUTH " + mech.encode() + b": expected an empty "
                        b"line after the server-final message, got " +
                        line[:80])


def oauth_refuse(conn, mech, err, reason, want_resp):
    """RFC 7628 3.2.2 / XOAUTH2: an error challenge, the client's dummy
    response, then 535."""
    r = auth_challenge(conn, err, "response to the error challenge")
    if r != want_resp:
        conn.rec.marker("AUTH %s: answer to the error challenge should be "
                        "%r, got %r" % (mech, want_resp, r))
    auth_fail(conn, mech, reason,
              b"535 5.7.8 Username and Password not accepted\r\n")


def sasl_xoauth2(conn, ir, user, secret, opts):
    msg = auth_initial(conn, ir)
    m = re.fullmatch(rb"user=([^\x01]*)\x01auth=Bearer ([^\x01]*)\x01\x01",
                     msg)
    if not m:
        conn.rec.marker(b"AUTH XOAUTH2: malformed: " + msg[:100])
        conn.send(b"501 5.5.2 Malformed XOAUTH2 message\r\n")
        raise AuthEnd(go_on=True)
    if m.group(1) != user or m.group(2) != secret:
        oauth_refuse(conn, "XOAUTH2",
                     b'{"status":"401","schemes":"bearer",'
                     b'"scope":"https://mail.google.com/"}',
                     "wrong user or token (token %r)" % m.group(2)[:40], b"")


def sasl_oauthbearer(conn, ir, user, secret, opts):
    msg = auth_initial(conn, ir)
    m = re.fullmatch(rb"([ny]),(?:a=([^,]*))?,\x01((?:[A-Za-z]+=[^\x01]*"
                     rb"\x01)*)\x01", msg)
    if not m:
        conn.rec.marker(b"AUTH OAUTHBEARER: malformed: " + msg[:100])
        conn.send(b"501 5.5.2 Malformed OAUTHBEARER message\r\n")
        raise AuthEnd(go_on=True)
    kv = dict(p.split(b"=", 1) for p in m.group(3).split(b"\x01") if p)
    tok = kv.get(b"auth", b"")
    if m.group(2) not in (None, user) or tok != b"Bearer " + secret:
        oauth_refuse(conn, "OAUTHBEARER",
                     b'{"status":"invalid_token","scope":"smtp",'
                     b'"openid-configuration":"https://auth.example/'
                     b'.well-known/openid-configuration"}',
                     "wrong user or token (a=%r, auth=%r)"
                     % (m.group(2), tok[:47]), b"\x01")


def sasl_external(conn, ir, user, secret, opts):
    msg = auth_initial(conn, ir)
    cn = peer_cn(conn)
    if cn is None:
        auth_fail(conn, "EXTERNAL", "no client certificate")
    if msg not in (b"", user):
        auth_fail(conn, "EXTERNAL", "authzid %r" % msg)
    if cn.encode() != user:
        auth_fail(conn, "EXTERNAL", "certificate CN %r" % cn)


SASL_SERVERS = {
    "PLAIN": sasl_plain, "LOGIN": sasl_login, "CRAM-MD5": sasl_cram_md5,
    "SCRAM-SHA-256": lambda c, i, u, s, o: sasl_scram(c, i, u, s, o,
                                                      "sha256"),
    "SCRAM-SHA-1": lambda c, i, u, s, o: sasl_scram(c, i, u, s, o, "sha1"),
    "XOAUTH2": sasl_xoauth2, "OAUTHBEARER": sasl_oauthbearer,
    "EXTERNAL": sasl_external,
}


def d_auth_verify(conn, arg):
    """auth-verify MECH USER SECRET [OPTION...]: read the client's AUTH
    command and run the real server side of MECH; 235 on success, 535
    (and the marker "AUTH FAILED: ...") on wrong credentials."""
    words = arg.split()
    if len(words) < 3 or words[0].upper() not in SASL_SERVERS:
        raise SystemExit("fakesmtp: auth-verify MECH USER SECRET [OPT...] "
                         "with MECH one of " + " ".join(SASL_SERVERS))
    mech = words[0].upper()
    user, secret = unescape(words[1]), unescape(words[2])
    opts = {}
    for o in words[3:]:
        k, _, v = o.partition("=")
        opts[k] = v
    line, end = conn.readline()
    if line is None:
        conn.rec.marker("EOF" if end == b"EOF" else
                        "timeout waiting for AUTH " + mech)
        return False
    conn.rec.line(line)
    check_line_end(conn, line, end)
    w = line.split(b" ")
    if w[0].upper() != b"AUTH" or len(w) < 2:
        conn.rec.marker(b"expected AUTH " + mech.encode() + b" got " + line)
        return False
    if w[1].upper() != mech.encode():
        conn.rec.marker(b"expected AUTH " + mech.encode() + b" got " + line)
        conn.send(b"504 5.5.4 Unrecognized authentication type\r\n")
        return False
    if len(w) > 3 or (len(w) == 3 and w[2] == b""):
        conn.rec.marker(b"AUTH: malformed command: " + line)
    ir = w[2] if len(w) > 2 else None
    try:
        SASL_SERVERS[mech](conn, ir, user, secret, opts)
    except AuthEnd as e:
        return None if e.go_on else False
    conn.rec.note("#", "AUTH %s: verified" % mech)
    conn.send(AUTH_OK)


DIRECTIVES = {
    "send": d_send, "sendraw": d_sendraw, "sendpy": d_sendpy,
    "expect": d_expect,
    "data": d_data, "sleep": d_sleep, "close": d_close, "drop": d_drop,
    "shutdown": d_shutdown, "hang": d_hang, "drip": d_drip,
    "flood": d_flood, "strict": d_strict, "nostrict": d_nostrict,
    "eof": d_eof,
    "starttls": d_starttls, "implicit": d_starttls,
    "starttls-hang": d_starttls_hang, "tls-max": d_tls_max,
    "tls-min": d_tls_min, "require-client-cert": d_require_client_cert,
    "request-client-cert": d_request_client_cert,
    "auth-verify": d_auth_verify,
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
    ap.add_argument("--certs", help="directory of NAME.pem/NAME.key "
                    "certificates for the TLS directives")
    a = ap.parse_args()
    global CERTS
    CERTS = a.certs

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
