#!/usr/bin/python3
"""tests/run_real_tls.py - smtpsend's TLS and AUTH against real servers on
127.0.0.1.

    SMTPSEND=./smtpsend /usr/bin/python3 tests/run_real_tls.py

${SMTPSEND:-./smtpsend} is the program under test.  A test CA and a
"localhost" server certificate (SAN DNS:localhost, IP:127.0.0.1) are made
per run with the openssl CLI (tests/servers/tlscerts.sh); every send
verifies the server through --tls-trust-file=CA, never with
--tls-certcheck=off.

Servers (recipes in tests/servers/, started and stopped by PID, each with a
private directory under one temporary work directory and ports picked at
run time):
  postfix-tls   Postfix smtpd: STARTTLS required + implicit TLS, Cyrus SASL
                sasldb with PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256 SCRAM-SHA-1
  exim          Exim 4.96 (unpacked .deb, GnuTLS): STARTTLS + implicit TLS,
                AUTH PLAIN LOGIN CRAM-MD5 only inside TLS
  aiosmtpd-tls  python3-aiosmtpd with STARTTLS required and AUTH required
                (its LOGIN prompts end in a NUL byte)
All three require AUTH for every recipient.  Checks: delivery byte-exact
(the message body after the server's trace headers), the mechanism the
server saw, exit codes for a wrong password, an unknown issuer (system
store), a name mismatch and a refused plaintext session, no secret in a -v
transcript, --serverinfo's TLS block, and one valgrind run of a
STARTTLS+AUTH send (skipped only for an ASan build, with a note).

Prints "ok NAME" or "FAIL NAME: why" per check; the last line is exactly
"SUITE realtls: N passed, M failed".  Exit status 1 when anything failed.
A server that cannot start is a FAIL.  KEEP=1 keeps the work directory.
"""
import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run_real as rr  # noqa: E402  (shared helpers and counters)

ROOT = rr.ROOT
SERVERS = rr.SERVERS
ok, fail, check = rr.ok, rr.fail, rr.check
MESSAGES = rr.MESSAGES
wire = rr.wire


class TlsSuite(rr.Suite):
    """rr.Suite with a send that leaves TLS and AUTH to the caller."""

    def __init__(self, smtpsend, work, ca):
        super().__init__(smtpsend, work)
        self.ca = ca

    def send(self, port, data, rcpts=("rcpt@example.net",), opts=(), password=None,
             sender="sender@example.org", trust=True, host="127.0.0.1",
             wrapper=(), timeout=60):
        home = self.home()
        argv = list(wrapper) + [self.smtpsend, "--host=" + host, "--port=%d" % port,
                                "--domain=client.smtpsend.test", "-f", sender]
        if trust:
            argv.append("--tls-trust-file=" + self.ca)
        argv += list(opts) + ["--"] + list(rcpts)
        env = dict(os.environ, HOME=home)
        env.pop("SMTPSEND_PASSWORD", None)
        if password is not None:
            env["SMTPSEND_PASSWORD"] = password
        try:
            p = subprocess.run(argv, input=data, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, timeout=timeout)
            r = rr.Run(p.returncode, p.stdout, p.stderr, home)
        except subprocess.TimeoutExpired as e:
            r = rr.Run("timeout after %ds" % timeout, e.stdout or b"", e.stderr or b"", home)
        except OSError as e:
            r = rr.Run("cannot run: %s" % e, b"", b"", home)
        rr.reap()
        return r


class Server:
    """One started server: ports, credentials, its mail store and log."""

    def __init__(self, kind, d):
        self.kind = kind
        self.dir = d
        self.port = self.read_int("port")
        self.iport = self.read_int("port-implicit")
        self.user = self.read("user").strip()
        self.password = self.read("password")
        self.user2 = self.read("user2").strip()
        self.password2 = self.read("password2")
        if kind == "aiosmtpd":
            self.mail = os.path.join(d, "mail")
            self.eol = b"\r\n"
        else:
            self.mail = os.path.join(d, "Maildir", "new")
            self.eol = b"\n"
        self.log = {"postfix": os.path.join(d, "maillog"),
                    "exim": os.path.join(d, "log", "mainlog"),
                    "aiosmtpd": None}[kind]
        self.seen = set(self.names())
        self.logpos = self.logsize()

    def read(self, name):
        try:
            with open(os.path.join(self.dir, name)) as f:
                return f.read()
        except OSError:
            return ""

    def read_int(self, name):
        try:
            return int(self.read(name))
        except ValueError:
            return None

    def names(self):
        try:
            names = os.listdir(self.mail)
        except OSError:
            return []
        if self.kind == "aiosmtpd":
            names = [n for n in names if n.endswith(".eml")]
        return sorted(names)

    def logsize(self):
        try:
            return os.path.getsize(self.log) if self.log else 0
        except OSError:
            return 0

    def new(self, count, wait):
        """Up to WAIT seconds for COUNT new messages: [(bytes, extra)], where
        extra is the aiosmtpd envelope+auth text, else None."""
        deadline = time.time() + wait
        while True:
            fresh = [n for n in self.names() if n not in self.seen]
            if len(fresh) >= count or time.time() >= deadline:
                break
            time.sleep(0.05)
        self.seen.update(fresh)
        out = []
        for n in fresh:
            with open(os.path.join(self.mail, n), "rb") as f:
                data = f.read()
            extra = None
            if self.kind == "aiosmtpd":
                extra = ""
                for ext in (".env", ".auth"):
                    try:
                        with open(os.path.join(self.mail, n[:-4] + ext)) as f:
                            extra += f.read()
                    except OSError:
                        pass
            out.append((data, extra))
        return out

    def log_wait(self, pattern, wait):
        """Wait up to WAIT seconds for PATTERN (a regex, bytes) in the log
        lines written since the last call; return the match or None."""
        if not self.log:
            return None
        deadline = time.time() + wait
        while True:
            try:
                with open(self.log, "rb") as f:
                    f.seek(self.logpos)
                    text = f.read()
            except OSError:
                text = b""
            m = re.search(pattern, text)
            if m or time.time() >= deadline:
                break
            time.sleep(0.05)
        self.logpos += len(text)
        return m

    def skip_log(self):
        self.logpos = self.logsize()

    def body(self, stored):
        return rr.strip_trace(stored, self.eol)[1]

    def expected(self, data):
        w = wire(data)
        return w if self.eol == b"\r\n" else w.replace(b"\r\n", b"\n")


# Postfix and Exim deliver within a second here; the first message that
# does not arrive lowers the wait for the rest, so that a client that exits
# 0 without sending cannot stretch the suite to many minutes.
DELIVERY_WAIT = 15
MISSED_WAIT = 2
patience = [DELIVERY_WAIT]
QUIET_WAIT = {"postfix": 1.5, "exim": 1.5, "aiosmtpd": 0.3}

# How each server names the mechanism in its log (None: the .auth file).
MECH_LOG = {
    "postfix": lambda mech: rb"sasl_method=" + mech.upper().encode() + rb", sasl_username=",
    "exim": lambda mech: rb" A=" + {"PLAIN": b"plain", "LOGIN": b"login",
                                     "CRAM-MD5": b"cram"}[mech.upper()] + rb":",
}


def delivered(s, srv, name, r, data, mech=None, rcpts=("rcpt@example.net",)):
    """Exit 0, exactly one stored copy whose body equals DATA on the wire,
    and (when MECH is given) the server authenticated the session with it."""
    if r.rc != 0:
        fail(name, r.why())
        srv.new(1, 1)
        srv.skip_log()
        return False
    got = srv.new(1, patience[0])
    if len(got) != 1:
        patience[0] = MISSED_WAIT
        fail(name, "server stored %d messages, expected 1" % len(got))
        return False
    stored, extra = got[0]
    body = srv.body(stored)
    want = srv.expected(data)
    if body != want:
        fail(name, rr.first_diff(body, want))
        return False
    if srv.kind == "aiosmtpd":
        lines = extra.split("\n")
        if lines[:1] != ["sender@example.org"] or sorted(lines[1:1 + len(rcpts)]) != sorted(rcpts):
            fail(name, "envelope %r" % extra)
            return False
        if mech and ("%s %s" % (mech.upper(), srv.user)) not in extra:
            fail(name, "server authenticated %r, expected %s %s" % (extra, mech, srv.user))
            return False
    elif mech:
        if not srv.log_wait(MECH_LOG[srv.kind](mech), 5):
            fail(name, "the server's log does not show AUTH %s for this message" % mech)
            return False
    ok(name)
    return True


def nothing_delivered(srv):
    got = srv.new(1, QUIET_WAIT[srv.kind])
    return len(got) == 0


def secrets_of(user, password):
    """Every form a secret could leak in: the password, its base64, and the
    base64 of PLAIN's authzid\\0user\\0password."""
    u, p = user.encode(), password.encode()
    forms = [p, base64.b64encode(p), base64.b64encode(b"\0" + u + b"\0" + p),
             base64.b64encode(u + b"\0" + u + b"\0" + p)]
    return forms


def starttls_before_auth(transcript):
    """In a -v transcript: the 220 to STARTTLS comes before any AUTH."""
    t = transcript.decode("utf-8", "replace")
    st = t.find("-> STARTTLS")
    au = t.find("-> AUTH")
    return st >= 0 and au > st


def leaf_fingerprint(s):
    """SHA-256 of the server certificate, hex without colons (openssl CLI)."""
    leaf = os.path.join(os.path.dirname(s.ca), "server-leaf.pem")
    p = subprocess.run(["openssl", "x509", "-in", leaf, "-noout", "-fingerprint",
                        "-sha256"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    return p.stdout.decode().strip().split("=", 1)[-1].replace(":", "")


def common_negative_checks(s, srv, prefix, mech_for_v):
    """Wrong password, unknown issuer, name mismatch, no secret in -v."""
    starttls = ["--tls=starttls"]
    # A wrong password: exit 77, nothing delivered.
    r = s.send(srv.port, MESSAGES["plain"], opts=starttls + ["--user=" + srv.user],
               password=srv.password + "-wrong")
    check(prefix + "-wrong-password-exit77", r.rc == 77 and nothing_delivered(srv),
          r.why() + "; something was delivered" * (r.rc == 77))
    srv.skip_log()
    # Without --tls-trust-file the system store does not know the test CA.
    r = s.send(srv.port, MESSAGES["plain"], opts=starttls + ["-v", "--user=" + srv.user],
               password=srv.password, trust=False)
    # The server sends leaf + CA, so OpenSSL's reason is "self-signed
    # certificate in certificate chain"; with the leaf alone it would be
    # "unable to get local issuer certificate".
    good = (r.rc == 77 and b"-> AUTH" not in r.err and b"-> MAIL" not in r.err and
            re.search(rb"verif[^\n]*(self.signed|issuer certificate|unknown (ca|issuer)|"
                      rb"untrusted)", r.err, re.I) is not None)
    check(prefix + "-system-store-unknown-issuer-exit77", good and nothing_delivered(srv),
          r.why() + "; (want exit 77, the reason named, no AUTH/MAIL sent, nothing stored)")
    # Implicit TLS, same.
    if srv.iport:
        r = s.send(srv.iport, MESSAGES["plain"], opts=["--tls=implicit", "--user=" + srv.user],
                   password=srv.password, trust=False)
        check(prefix + "-implicit-unknown-issuer-exit77",
              r.rc == 77 and nothing_delivered(srv), r.why())
    # The certificate is for localhost/127.0.0.1, not for another name.
    r = s.send(srv.port, MESSAGES["plain"],
               opts=starttls + ["--tls-host=mail.example.com", "--user=" + srv.user],
               password=srv.password)
    check(prefix + "-name-mismatch-exit77",
          r.rc == 77 and re.search(rb"mismatch|name|host", r.err, re.I) is not None
          and nothing_delivered(srv), r.why())
    srv.skip_log()
    # -v shows the dialogue but never the password or its base64 forms.
    r = s.send(srv.port, MESSAGES["plain"],
               opts=starttls + ["-v", "--auth=" + mech_for_v, "--user=" + srv.user],
               password=srv.password)
    out = r.out + r.err
    leaks = [f for f in secrets_of(srv.user, srv.password) if f in out]
    good = r.rc == 0 and not leaks and b"***" in out and starttls_before_auth(r.err)
    check(prefix + "-verbose-%s-no-secret" % mech_for_v.lower(), good,
          r.why() + "; leaked forms %r; *** shown: %s; STARTTLS before AUTH: %s" % (
              leaks, b"***" in out, starttls_before_auth(r.err)))
    srv.new(1, patience[0] if r.rc == 0 else 0.1)
    srv.skip_log()


def serverinfo_check(s, srv, prefix, expect_auth):
    r = s.send(srv.port, b"", rcpts=(), opts=["--serverinfo", "--tls=starttls"])
    t = (r.out + r.err).decode("utf-8", "replace")
    why = []
    if r.rc != 0:
        why.append("exit %s" % r.rc)
    tls_at = t.find("TLSv1.")
    if tls_at < 0:
        why.append("no TLS protocol")
    if not re.search(r"cipher\s+\S+", t, re.I):
        why.append("no cipher")
    if not re.search(r"subject [^\n]*CN\s*=\s*localhost", t):
        why.append("no certificate subject CN=localhost")
    if "smtpsend test CA" not in t:
        why.append("no issuer")
    if not re.search(r"SHA256:([0-9A-F]{2}:){31}[0-9A-F]{2}", t):
        why.append("no SHA-256 fingerprint")
    if not re.search(r"verification:\s*ok", t, re.I):
        why.append("no 'verification: ok'")
    auth = [m.start() for m in re.finditer(r"AUTH ", t)]
    if expect_auth:
        if not auth or tls_at < 0 or min(auth) < tls_at:
            why.append("AUTH not listed after TLS only (AUTH at %s, TLS at %d)" % (auth, tls_at))
        for mech in expect_auth:
            if not re.search(r"AUTH [^\n]*\b%s\b" % re.escape(mech), t):
                why.append("AUTH lacks %s" % mech)
    check(prefix + "-serverinfo-tls", not why, "; ".join(why) + " | output: " + t[-700:])


def postfix_checks(s, certs):
    port, d = s.start("postfix-tls", "postfix-tls", certs)
    if port is None:
        fail("postfix-tls", "server did not start; no Postfix TLS checks ran")
        return
    srv = Server("postfix", d)
    # STARTTLS + each mechanism; a different message each time.
    cases = [("plain", "plain"), ("login", "dots"), ("cram-md5", "8bit"),
             ("scram-sha-256", "line-ends"), ("scram-sha-1", "no-final-newline")]
    for mech, mname in cases:
        r = s.send(srv.port, MESSAGES[mname],
                   opts=["--tls=starttls", "--auth=" + mech, "--user=" + srv.user],
                   password=srv.password)
        delivered(s, srv, "postfix-starttls-auth-%s" % mech, r, MESSAGES[mname], mech)
    # --auth=on: the strongest both have.
    r = s.send(srv.port, MESSAGES["only-dot-body"],
               opts=["--tls=starttls", "--auth=on", "--user=" + srv.user],
               password=srv.password)
    delivered(s, srv, "postfix-auth-on-picks-scram-sha-256", r, MESSAGES["only-dot-body"],
              "scram-sha-256")
    # --user alone implies --auth=on; the password from --passwordeval.
    pwfile = os.path.join(srv.dir, "password")
    r = s.send(srv.port, MESSAGES["dots"],
               opts=["--tls=starttls", "--user=" + srv.user,
                     "--passwordeval=cat '%s'" % pwfile])
    delivered(s, srv, "postfix-passwordeval", r, MESSAGES["dots"], "scram-sha-256")
    # Implicit TLS on the wrappermode port.
    big = rr.big_message()
    for mech, data, name in (("plain", MESSAGES["8bit"], "postfix-implicit-auth-plain"),
                             ("scram-sha-256", big, "postfix-implicit-auth-scram-5mb")):
        r = s.send(srv.iport, data, opts=["--tls=implicit", "--auth=" + mech,
                                          "--user=" + srv.user], password=srv.password)
        delivered(s, srv, name, r, data, mech)
    # --host=localhost: the DNS name is verified (and sent as SNI).
    r = s.send(srv.port, MESSAGES["plain"], host="localhost",
               opts=["--tls=starttls", "--user=" + srv.user], password=srv.password)
    delivered(s, srv, "postfix-host-localhost-dns-san", r, MESSAGES["plain"])
    srv.skip_log()
    # No AUTH: the server refuses every recipient (the others are meaningful).
    r = s.send(srv.port, MESSAGES["plain"], opts=["--tls=starttls"])
    check("postfix-unauthenticated-refused-exit67", r.rc == 67 and nothing_delivered(srv),
          r.why())
    # --tls=off to a server that requires STARTTLS: 530 at MAIL, exit 69.
    r = s.send(srv.port, MESSAGES["plain"], opts=["--tls=off"])
    check("postfix-tls-off-refused-530-exit69",
          r.rc == 69 and b"530" in r.err and nothing_delivered(srv), r.why())
    common_negative_checks(s, srv, "postfix", "plain")
    r = s.send(srv.port, MESSAGES["plain"], opts=["-v", "--tls=starttls", "--auth=login",
                                                  "--user=" + srv.user], password=srv.password)
    leaks = [f for f in secrets_of(srv.user, srv.password) if f in r.out + r.err]
    check("postfix-verbose-login-no-secret",
          r.rc == 0 and not leaks and b"-> AUTH LOGIN" in r.err and b"***" in r.err,
          r.why() + "; leaked %r" % leaks)
    srv.new(1, patience[0] if r.rc == 0 else 0.1)
    srv.skip_log()
    # A user name with SCRAM's escaped characters (= and ,) and a UTF-8
    # password, through every mechanism.
    for mech in ("plain", "login", "cram-md5", "scram-sha-1", "scram-sha-256"):
        r = s.send(srv.port, MESSAGES["plain"],
                   opts=["--tls=starttls", "--auth=" + mech, "--user=" + srv.user2],
                   password=srv.password2)
        delivered(s, srv, "postfix-odd-user-utf8-password-%s" % mech, r, MESSAGES["plain"],
                  mech)
    # Certificate pinning on top of the CA check: the right pin sends, a
    # wrong one is exit 77 before any AUTH.
    fp = leaf_fingerprint(s)
    r = s.send(srv.port, MESSAGES["plain"],
               opts=["--tls=starttls", "--tls-fingerprint=SHA256:" + fp, "--user=" + srv.user],
               password=srv.password)
    delivered(s, srv, "postfix-pin-match", r, MESSAGES["plain"])
    wrong = ("00" if not fp.startswith("00") else "11") + fp[2:]
    r = s.send(srv.port, MESSAGES["plain"], opts=[
        "-v", "--tls=starttls", "--tls-fingerprint=SHA256:" + wrong, "--user=" + srv.user],
        password=srv.password)
    check("postfix-pin-mismatch-exit77",
          r.rc == 77 and b"-> AUTH" not in r.err and nothing_delivered(srv), r.why())
    # --serverinfo against an unknown CA: exit 77 and the reason.
    r = s.send(srv.port, b"", rcpts=(), opts=["--serverinfo", "--tls=starttls"], trust=False)
    check("postfix-serverinfo-unverified-exit77",
          r.rc == 77 and re.search(rb"verif", r.out + r.err, re.I) is not None, r.why())
    srv.skip_log()
    serverinfo_check(s, srv, "postfix", ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256",
                                         "SCRAM-SHA-1"])
    s.valgrind_target = srv
    return srv


def exim_checks(s, certs):
    port, d = s.start("exim", "exim", certs)
    if port is None:
        fail("exim", "server did not start; no Exim checks ran")
        return
    srv = Server("exim", d)
    for mech, mname in (("plain", "plain"), ("login", "dots"), ("cram-md5", "8bit")):
        r = s.send(srv.port, MESSAGES[mname],
                   opts=["--tls=starttls", "--auth=" + mech, "--user=" + srv.user],
                   password=srv.password)
        delivered(s, srv, "exim-starttls-auth-%s" % mech, r, MESSAGES[mname], mech)
    r = s.send(srv.port, MESSAGES["line-ends"], opts=["--tls=starttls", "--user=" + srv.user],
               password=srv.password)
    delivered(s, srv, "exim-auth-on-picks-cram-md5", r, MESSAGES["line-ends"], "cram-md5")
    for mech, mname in (("plain", "no-final-newline"), ("login", "only-dot-body")):
        r = s.send(srv.iport, MESSAGES[mname],
                   opts=["--tls=implicit", "--auth=" + mech, "--user=" + srv.user],
                   password=srv.password)
        delivered(s, srv, "exim-implicit-auth-%s" % mech, r, MESSAGES[mname], mech)
    r = s.send(srv.port, rr.T_MESSAGE, rcpts=(),
               opts=["-t", "--tls=starttls", "--user=" + srv.user], password=srv.password)
    if r.rc == 0:
        got = srv.new(len(rr.T_RCPTS), patience[0])
        want = srv.expected(rr.drop_header(wire(rr.T_MESSAGE), b"Bcc"))
        bad = [rr.first_diff(srv.body(g), want) for g, _ in got if srv.body(g) != want]
        check("exim-t-bcc-removed-5rcpts", len(got) == len(rr.T_RCPTS) and not bad,
              "stored %d of %d; %s" % (len(got), len(rr.T_RCPTS), bad[:1]))
    else:
        fail("exim-t-bcc-removed-5rcpts", r.why())
    srv.skip_log()
    r = s.send(srv.port, MESSAGES["plain"], opts=["--tls=starttls"])
    check("exim-unauthenticated-refused-exit67", r.rc == 67 and nothing_delivered(srv),
          r.why())
    common_negative_checks(s, srv, "exim", "login")
    serverinfo_check(s, srv, "exim", ["PLAIN", "LOGIN", "CRAM-MD5"])
    s.stop("exim")


def aiosmtpd_checks(s, certs):
    port, d = s.start("aiosmtpd-tls", "aiosmtpd-tls", certs)
    if port is None:
        fail("aiosmtpd-tls", "server did not start; no aiosmtpd TLS checks ran")
        return
    srv = Server("aiosmtpd", d)
    # --tls=auto (the default): STARTTLS because it is offered.
    r = s.send(srv.port, MESSAGES["dots"], opts=["-v", "--user=" + srv.user],
               password=srv.password)
    if check("aiosmtpd-auto-uses-starttls", r.rc == 0 and starttls_before_auth(r.err),
             r.why()):
        delivered(s, srv, "aiosmtpd-auto-starttls-delivered", r, MESSAGES["dots"])
    else:
        srv.new(1, 1)
    # AUTH LOGIN with aiosmtpd's NUL-terminated prompts.
    r = s.send(srv.port, MESSAGES["8bit"], opts=["-v", "--auth=login", "--user=" + srv.user],
               password=srv.password)
    check("aiosmtpd-login-prompt-has-nul", b"334 VXNlciBOYW1lAA==" in r.err,
          "prompt not seen in the transcript: " + r.why())
    delivered(s, srv, "aiosmtpd-auth-login-nul-prompts", r, MESSAGES["8bit"], "login")
    r = s.send(srv.port, MESSAGES["line-ends"], opts=["--tls=starttls", "--auth=plain",
                                                      "--user=" + srv.user],
               password=srv.password)
    delivered(s, srv, "aiosmtpd-auth-plain", r, MESSAGES["line-ends"], "plain")
    r = s.send(srv.iport, MESSAGES["plain"], opts=["--tls=implicit", "--auth=login",
                                                   "--user=" + srv.user],
               password=srv.password)
    delivered(s, srv, "aiosmtpd-implicit-auth-login", r, MESSAGES["plain"], "login")
    r = s.send(srv.port, MESSAGES["plain"], rcpts=MULTI, opts=["--user=" + srv.user],
               password=srv.password)
    delivered(s, srv, "aiosmtpd-multi-rcpt", r, MESSAGES["plain"], rcpts=MULTI)
    # --tls=off: STARTTLS is required, MAIL gets 530: exit 69, nothing stored.
    r = s.send(srv.port, MESSAGES["plain"], opts=["--tls=off"])
    check("aiosmtpd-tls-off-530-exit69",
          r.rc == 69 and b"530" in r.err and nothing_delivered(srv), r.why())
    # --tls=off with a user: AUTH is not offered before TLS; the send must
    # fail without any AUTH or MAIL on the wire.
    r = s.send(srv.port, MESSAGES["plain"], opts=["-v", "--tls=off", "--user=" + srv.user],
               password=srv.password)
    leaks = [f for f in secrets_of(srv.user, srv.password) if f in r.out + r.err]
    check("aiosmtpd-tls-off-user-no-auth-offered",
          r.rc not in (0,) and isinstance(r.rc, int) and b"-> AUTH" not in r.err
          and b"-> MAIL" not in r.err and not leaks and nothing_delivered(srv),
          r.why() + "; leaked %r" % leaks)
    print("# aiosmtpd --tls=off --user: exit %s: %s" % (
        r.rc, r.err.decode("utf-8", "replace").strip().split("\n")[-2:]))
    # Wrong password: 535 -> 77.
    r = s.send(srv.port, MESSAGES["plain"], opts=["--user=" + srv.user],
               password="not-" + srv.password)
    check("aiosmtpd-wrong-password-exit77", r.rc == 77 and nothing_delivered(srv), r.why())
    s.stop("aiosmtpd-tls")


MULTI = ("one@example.net", "two@example.com", "three@example.org")


def valgrind_check(s):
    name = "valgrind-postfix-starttls-scram"
    srv = getattr(s, "valgrind_target", None)
    if shutil.which("valgrind") is None:
        fail(name, "valgrind not installed (apt-get install valgrind)")
        return
    if srv is None:
        fail(name, "the Postfix TLS server is not running")
        return
    vlog = os.path.join(s.work, "valgrind.log")
    r = s.send(srv.port, MESSAGES["dots"],
               opts=["-v", "--tls=starttls", "--auth=scram-sha-256", "--user=" + srv.user],
               password=srv.password,
               wrapper=["valgrind", "-q", "--leak-check=full",
                        "--errors-for-leak-kinds=definite,indirect",
                        "--error-exitcode=99", "--log-file=" + vlog], timeout=180)
    try:
        with open(vlog, "rb") as f:
            log = f.read()
    except OSError:
        log = b""
    if check(name, r.rc == 0 and not log.strip() and b"-> AUTH SCRAM-SHA-256" in r.err,
             "exit %s; valgrind: %s; stderr: %s" % (r.rc, log.decode("utf-8", "replace")[-700:],
                                                     r.err[-200:])):
        got = srv.new(1, patience[0])
        check(name + "-delivered", len(got) == 1 and srv.body(got[0][0]) ==
              srv.expected(MESSAGES["dots"]), "stored %d" % len(got))


def run_all(s, certs, asan):
    postfix_checks(s, certs)
    if asan:
        print("# valgrind step skipped: %s is an ASan build" % s.smtpsend)
    else:
        valgrind_check(s)
    if "postfix-tls" in s.servers:
        s.stop("postfix-tls")
    exim_checks(s, certs)
    aiosmtpd_checks(s, certs)


def main():
    rr.become_subreaper()
    given = os.environ.get("SMTPSEND", "./smtpsend")
    smtpsend = os.path.abspath(given)
    if not os.path.exists(smtpsend):
        smtpsend = os.path.join(ROOT, given)
    os.chdir(ROOT)
    started = time.time()
    work = tempfile.mkdtemp(prefix="smtpsend-realtls.")
    os.chmod(work, 0o755)   # the servers' own users read certificates here
    certs = os.path.join(work, "certs")
    s = TlsSuite(smtpsend, work, os.path.join(certs, "ca.pem"))

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if not os.access(smtpsend, os.X_OK):
            fail("smtpsend-present", "%s is not an executable (run make)" % smtpsend)
        else:
            p = subprocess.run(["sh", os.path.join(SERVERS, "tlscerts.sh"), certs],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, timeout=60)
            if check("test-ca-and-localhost-cert", p.returncode == 0,
                     p.stdout.decode("utf-8", "replace")):
                asan = "asan" in s.smtpsend or b"libasan" in subprocess.run(
                    ["ldd", s.smtpsend], stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL).stdout
                run_all(s, certs, asan)
    except KeyboardInterrupt:
        fail("interrupted", "signal received")
    except Exception as e:   # a harness bug must not leave servers behind
        import traceback
        traceback.print_exc(file=sys.stdout)
        fail("harness", "%s: %s" % (type(e).__name__, e))
    finally:
        s.stop_all()
    if rr.failed == 0 and not os.environ.get("KEEP"):
        shutil.rmtree(work, ignore_errors=True)
    else:
        print("# work directory kept: %s" % work)
    print("# real-server TLS suite took %.1f s" % (time.time() - started))
    print("SUITE realtls: %d passed, %d failed" % (rr.passed, rr.failed))
    return 1 if rr.failed else 0


if __name__ == "__main__":
    sys.exit(main())
