#!/usr/bin/python3
"""tests/run_real.py - smtpsend against real mail servers on 127.0.0.1.

Run from anywhere (it works from the repository root); tests/run_real.sh is
the entry point.  ${SMTPSEND:-./smtpsend} is the program under test.

Servers (recipes in tests/servers/, each started and stopped by PID, with a
private directory under one temporary work directory and a port picked at
run time):
  aiosmtpd  stores the exact wire bytes (CRLF kept): the byte-exact peer
  sink      Postfix smtp-sink dumping transactions; fault variants
  postfix   a private Postfix smtpd delivering into a Maildir
  opensmtpd OpenSMTPD 6.8, which refuses pipelined commands when PIPELINING
            is not advertised
For every message the server's stored copy, minus the trace headers the
server prepends, must equal what was sent after SMTP's normalisation (every
line end CRLF, a final line end added); LF-storing servers are compared with
LF line ends.  Plus exit codes for 4xx/5xx/421/drops, all-or-nothing
recipients, and one valgrind run.

Prints "ok NAME" or "FAIL NAME: why" per check; the last line is exactly
"SUITE real: N passed, M failed".  Exit status 1 when anything failed.
KEEP=1 keeps the work directory.
"""
import ctypes
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SERVERS = os.path.join(HERE, "servers")

passed = 0
failed = 0


def ok(name):
    global passed
    passed += 1
    print("ok %s" % name, flush=True)


def fail(name, why):
    global failed
    failed += 1
    why = why.strip().replace("\n", " | ")
    if len(why) > 600:
        why = why[:600] + "..."
    print("FAIL %s: %s" % (name, why), flush=True)


def check(name, cond, why):
    if cond:
        ok(name)
    else:
        fail(name, why)
    return cond


# --- process hygiene -------------------------------------------------------

def become_subreaper():
    """Daemons started by the recipes outlive the recipe's shell; make them
    our children so they are reaped here, not left as zombies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


# --- messages ----------------------------------------------------------------

def wire(data):
    """What must go on the wire for DATA (before dot-stuffing): every CRLF,
    lone LF or lone CR becomes CRLF, and the last line gets one."""
    lines = re.split(rb"\r\n|\r|\n", data)
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join(l + b"\r\n" for l in lines)


def drop_header(msg, name):
    """msg (CRLF) without every header field NAME (continuations too)."""
    head, sep, body = msg.partition(b"\r\n\r\n")
    out, skipping = [], False
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                out.append(line)
            continue
        skipping = line.split(b":", 1)[0].strip().lower() == name.lower()
        if not skipping:
            out.append(line)
    return b"\r\n".join(out) + sep + body


def headers(subject, extra=b"", to=b"To: rcpt@example.net\r\n"):
    token = hashlib.sha1(subject + str(time.time()).encode()).hexdigest()[:16]
    return (b"From: Sender <sender@example.org>\r\n" + to + extra +
            b"Subject: " + subject + b"\r\n"
            b"Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n"
            b"Message-ID: <" + token.encode() + b"@smtpsend.test>\r\n")


def big_message():
    lines = [headers(b"five megabytes").rstrip(b"\r\n")]
    lines.append(b"")
    i = 0
    size = 0
    while size < 5 * 1024 * 1024:
        if i % 97 == 0:
            line = b".%07d dot-started line that must be dot-stuffed" % i
        elif i % 1013 == 0:
            line = b"."
        else:
            line = b"%08d " % i + b"abcdefghijklmnopqrstuvwxyz0123456789" * 2
        lines.append(line)
        size += len(line) + 2
        i += 1
    return b"\r\n".join(lines) + b"\r\n"


MESSAGES = {
    "plain": headers(b"plain") + b"\r\nGreetings,\r\nTyped message\r\nGoodbye.\r\n",
    "dots": headers(b"dots") + b"\r\n.hidden\r\n..two dots\r\n.\r\n. space\r\n"
            b"middle . dot\r\nlast line is a dot\r\n.\r\n",
    "line-ends": (headers(b"line ends").replace(b"\r\n", b"\n") +
                  b"\nlf line\ncrlf line\r\nlone cr line\rmixed\r\n\r\n"
                  b"blank above\rend\n"),
    "no-final-newline": headers(b"no final newline") + b"\r\nlast line has no end",
    "8bit": headers(b"8bit") + b"\r\nUTF-8: gr\xc3\xbc\xc3\x9fe \xe2\x82\xac\r\n"
            b"Latin-1: \xe9t\xe9\r\nhigh bytes: \x80\x81\xfe\xff\r\n",
    "only-dot-body": headers(b"only a dot") + b"\r\n.\r\n",
}
MULTI_RCPTS = ["one@example.net", "two@example.com", "three@example.org"]
T_TO = b"To: To One <to1@example.net>, to2@example.com\r\n"
T_EXTRA = (b"Cc: cc1@example.org\r\n"
           b"Bcc: secret1@example.net,\r\n secret2@example.com\r\n")
T_MESSAGE = headers(b"dash t", T_EXTRA, T_TO) + b"\r\nBcc must not show.\r\n"
T_RCPTS = ["to1@example.net", "to2@example.com", "cc1@example.org",
           "secret1@example.net", "secret2@example.com"]


# --- running smtpsend ---------------------------------------------------------

class Run:
    def __init__(self, rc, out, err, home):
        self.rc, self.out, self.err, self.home = rc, out, err, home

    def why(self):
        return "exit %s; stderr: %s" % (self.rc, self.err.decode("utf-8", "replace")[-400:])


class Suite:
    def __init__(self, smtpsend, work):
        self.smtpsend = smtpsend
        self.work = work
        self.servers = {}      # name -> dir, for stopping
        self.nhome = 0

    def home(self):
        self.nhome += 1
        h = os.path.join(self.work, "home%d" % self.nhome)
        os.makedirs(h)
        return h

    def send(self, port, data, rcpts, sender="sender@example.org", opts=(),
             wrapper=(), timeout=90):
        home = self.home()
        argv = list(wrapper) + [self.smtpsend, "--host=127.0.0.1",
                                "--port=%d" % port, "--domain=client.smtpsend.test",
                                "--tls=off", "-f", sender] + list(opts) + list(rcpts)
        env = dict(os.environ, HOME=home)
        env.pop("SMTPSEND_PASSWORD", None)
        try:
            p = subprocess.run(argv, input=data, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, timeout=timeout)
            r = Run(p.returncode, p.stdout, p.stderr, home)
        except subprocess.TimeoutExpired as e:
            r = Run("timeout after %ds" % timeout, e.stdout or b"", e.stderr or b"", home)
        except OSError as e:
            r = Run("cannot run: %s" % e, b"", b"", home)
        reap()
        return r

    # --- servers ---
    def start(self, name, recipe, *opts):
        d = os.path.join(self.work, name)
        os.makedirs(d)
        p = subprocess.run(["sh", os.path.join(SERVERS, recipe + ".sh"), "start", d] +
                           list(opts), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=120)
        reap()
        self.servers[name] = (recipe, d)
        try:
            with open(os.path.join(d, "port")) as f:
                port = int(f.read())
        except (OSError, ValueError):
            port = None
        if p.returncode != 0 or port is None:
            fail("start-" + name, "%s recipe did not start: %s" %
                 (recipe, (p.stderr + p.stdout).decode("utf-8", "replace")[-500:]))
            return None, d
        ok("start-" + name)
        return port, d

    def stop(self, name):
        recipe, d = self.servers.pop(name)
        subprocess.run(["sh", os.path.join(SERVERS, recipe + ".sh"), "stop", d],
                       stdin=subprocess.DEVNULL, timeout=60)
        reap()

    def stop_all(self):
        for name in list(self.servers):
            self.stop(name)


# --- reading what the servers stored -----------------------------------------

TRACE = re.compile(rb"^(Return-Path|X-Original-To|Delivered-To|Received|"
                   rb"X-Client-Addr|X-Client-Proto|X-Helo-Args|X-Mail-Args|"
                   rb"X-Rcpt-Args):", re.I)


def strip_trace(stored, eol):
    """Drop the trace header fields a server prepends; return the rest."""
    pos = 0
    in_trace = False
    while pos < len(stored):
        end = stored.find(eol, pos)
        if end < 0:
            break
        line = stored[pos:end]
        if TRACE.match(line):
            in_trace = True
        elif in_trace and line[:1] in (b" ", b"\t"):
            pass
        else:
            break
        pos = end + len(eol)
    return stored[:pos], stored[pos:]


def trace_values(trace, name):
    out = []
    for line in trace.split(b"\n"):
        if line.lower().startswith(name.lower() + b":"):
            out.append(line.split(b":", 1)[1].strip().rstrip(b"\r"))
    return out


class Store:
    """New files a server stored since the last snapshot."""

    def __init__(self, kind, d):
        self.kind = kind
        self.dir = {"aiosmtpd": os.path.join(d, "mail"),
                    "sink": os.path.join(d, "dump"),
                    "postfix": os.path.join(d, "Maildir", "new"),
                    "opensmtpd": os.path.join(d, "mail")}[kind]
        self.seen = set(self.names())

    def names(self):
        try:
            names = os.listdir(self.dir)
        except OSError:
            return []
        if self.kind in ("aiosmtpd", "opensmtpd"):
            names = [n for n in names if n.endswith(".eml")]
        return sorted(names)

    def new(self, count, wait):
        """Wait up to WAIT seconds for COUNT new files; return all new ones."""
        deadline = time.time() + wait
        while True:
            fresh = [n for n in self.names() if n not in self.seen]
            if len(fresh) >= count or time.time() >= deadline:
                break
            time.sleep(0.05)
        if fresh and self.kind == "sink":
            time.sleep(0.05)   # smtp-sink closes the dump file after replying
        self.seen.update(fresh)
        out = []
        for n in fresh:
            with open(os.path.join(self.dir, n), "rb") as f:
                out.append(f.read())
        if self.kind == "aiosmtpd":
            envs = []
            for n in fresh:
                with open(os.path.join(self.dir, n[:-4] + ".env")) as f:
                    envs.append(f.read().split("\n")[:-1])
            return out, envs
        return out, None

    def expected(self, data):
        """The stored form of message bytes DATA (already wire-normalised)."""
        return data if self.kind == "aiosmtpd" else data.replace(b"\r\n", b"\n")

    def content(self, stored):
        eol = b"\r\n" if self.kind == "aiosmtpd" else b"\n"
        trace, rest = strip_trace(stored, eol)
        if self.kind == "sink":
            rest = rest[:-1] if rest.endswith(b"\n") else rest + b"<no sink end line>"
        return trace, rest


def first_diff(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            break
    else:
        i = n
    return "differs at byte %d of %d/%d: got %r want %r" % (
        i, len(a), len(b), a[max(0, i - 20):i + 40], b[max(0, i - 20):i + 40])


WAIT = {"aiosmtpd": 5, "sink": 5, "postfix": 20, "opensmtpd": 20}
QUIET_WAIT = {"aiosmtpd": 0.2, "sink": 0.3, "postfix": 1.5, "opensmtpd": 1.5}


def delivery_checks(s, kind, port, d):
    """The byte-exact message checks, against one server."""
    st = Store(kind, d)

    def one(name, data, rcpts, expect, opts=(), env_rcpts=None):
        name = "%s-%s" % (kind, name)
        r = s.send(port, data, rcpts, opts=opts)
        if r.rc != 0:
            fail(name, r.why())
            st.new(len(env_rcpts or rcpts) or 1, 2)
            return
        want_rcpts = env_rcpts or rcpts
        per_rcpt = kind in ("postfix", "opensmtpd")   # one file per recipient
        n = len(want_rcpts) if per_rcpt else 1
        got, envs = st.new(n, WAIT[kind])
        if len(got) != n:
            fail(name, "server stored %d messages, expected %d" % (len(got), n))
            return
        want = st.expected(expect)
        rcpts_seen = []
        for g in got:
            trace, body = st.content(g)
            if body != want:
                fail(name, first_diff(body, want))
                return
            if kind == "sink":
                rcpts_seen += [v.strip(b"<>").decode() for v in trace_values(trace, b"X-Rcpt-Args")]
            elif per_rcpt:
                rcpts_seen += [v.strip(b"<>").decode() for v in trace_values(trace, b"Delivered-To")]
        if envs:
            rcpts_seen = envs[0][1:]
            if envs[0][0] != "sender@example.org":
                fail(name, "envelope sender %r" % envs[0][0])
                return
        if sorted(rcpts_seen) != sorted(want_rcpts):
            fail(name, "envelope recipients %s, expected %s" % (rcpts_seen, want_rcpts))
            return
        ok(name)

    names = list(MESSAGES) if kind != "opensmtpd" else ["plain", "dots", "no-final-newline", "8bit"]
    for mname in names:
        data = MESSAGES[mname]
        one(mname, data, ["rcpt@example.net"], wire(data))
    one("multi-rcpt", MESSAGES["plain"], MULTI_RCPTS, wire(MESSAGES["plain"]))
    one("t-bcc-removed", T_MESSAGE, [], drop_header(wire(T_MESSAGE), b"Bcc"),
        opts=["-t"], env_rcpts=T_RCPTS)
    if kind != "opensmtpd":
        big = big_message()
        one("5mb", big, ["rcpt@example.net"], wire(big))


def refusal_checks(s, kind, port, d, bad, tmp=None):
    """One refused recipient among good ones: exit 67, nothing delivered
    (all-or-nothing); a 4xx one: exit 75."""
    st = Store(kind, d)
    name = "%s-refused-rcpt-all-or-nothing" % kind
    r = s.send(port, MESSAGES["plain"], ["good@example.net", bad, "good2@example.net"])
    got, _ = st.new(1, QUIET_WAIT[kind])
    if check(name + "-exit67", r.rc == 67, r.why()):
        check(name + "-names-rcpt", bad.encode() in r.err,
              "stderr does not name %s: %s" % (bad, r.err[-300:]))
    check(name + "-nothing-stored", not got, "server stored %d message(s)" % len(got))
    if tmp:
        r = s.send(port, MESSAGES["plain"], ["good@example.net", tmp])
        got, _ = st.new(1, QUIET_WAIT[kind])
        check("%s-tempfail-rcpt-exit75" % kind, r.rc == 75 and not got,
              r.why() + "; stored %d" % len(got))


def partial_check(s, kind, port, d, bad):
    st = Store(kind, d)
    name = "%s-allow-partial" % kind
    r = s.send(port, MESSAGES["plain"], ["good@example.net", bad], opts=["--allow-partial"])
    got, envs = st.new(1, WAIT[kind])
    if not check(name + "-exit67", r.rc == 67, r.why()):
        return
    check(name + "-delivered-to-good", len(got) == 1 and envs and envs[0][1:] == ["good@example.net"],
          "stored %d, envelope %s" % (len(got), envs))


# smtp-sink fault variants: (name, options, expected exit, message stored?)
FAULTS = [
    ("rcpt-451", ["-r", "rcpt", "-b", "451 4.3.0 try again later"], 75),
    ("rcpt-550", ["-f", "rcpt", "-B", "550 5.1.1 no such user"], 67),
    ("mail-451", ["-r", "mail", "-b", "451 4.3.0 sender try later"], 75),
    ("mail-553", ["-f", "mail", "-B", "553 5.7.1 sender refused"], 69),
    ("data-554", ["-f", "data", "-B", "554 5.5.0 no data today"], 69),
    ("data-451", ["-r", "data", "-b", "451 4.3.0 data later"], 75),
    ("dot-554", ["-f", ".", "-B", "554 5.6.0 content refused"], 69),
    ("dot-452", ["-r", ".", "-b", "452 4.3.1 insufficient storage"], 75),
    ("greeting-421", ["-Q", "connect"], 75),
    ("ehlo-421", ["-Q", "ehlo"], 75),
    ("rcpt-421", ["-Q", "rcpt"], 75),
    ("drop-after-rcpt", ["-q", "rcpt"], 75),
    ("drop-after-dot", ["-q", "."], 75),
]


def sink_fault_checks(s):
    for fname, opts, code in FAULTS:
        name = "sink-fault-" + fname
        port, d = s.start("sink-" + fname, "sink", *opts)
        if port is None:
            fail(name, "server did not start")
            continue
        r = s.send(port, MESSAGES["plain"], ["rcpt@example.net"])
        check(name + "-exit%d" % code, r.rc == code, r.why())
        if fname == "drop-after-dot":
            check(name + "-says-maybe-delivered",
                  re.search(rb"may have been delivered|possibl[ey]", r.err, re.I),
                  "stderr lacks a possible-duplicate warning: %r" % r.err[-300:])
        if fname == "rcpt-550":
            dead = os.path.join(r.home, "dead.letter")
            try:
                with open(dead, "rb") as f:
                    dl = f.read()
            except OSError:
                dl = b""
            check(name + "-dead-letter", b"Typed message" in dl,
                  "~/dead.letter missing or without the message")
        s.stop("sink-" + fname)


def sink_feature_checks(s):
    """Servers without optional extensions still get the exact message."""
    variants = [("no-pipelining", ["-p"]), ("no-8bitmime", ["-8"]),
                ("no-esmtp-extras", ["-p", "-8", "-N", "-E"]),
                ("ehlo-refused-helo", ["-f", "ehlo"])]
    for vname, opts in variants:
        name = "sink-" + vname
        port, d = s.start(name, "sink", *opts)
        if port is None:
            fail(name, "server did not start")
            continue
        st = Store("sink", d)
        data = MESSAGES["8bit"] if vname == "no-8bitmime" else MESSAGES["dots"]
        r = s.send(port, data, ["rcpt@example.net", "rcpt2@example.net"])
        got, _ = st.new(1, WAIT["sink"])
        if r.rc != 0:
            fail(name, r.why())
        elif len(got) != 1:
            fail(name, "stored %d messages" % len(got))
        else:
            body = st.content(got[0])[1]
            want = st.expected(wire(data))
            check(name, body == want, first_diff(body, want))
        s.stop(name)


def extra_checks(s, port, d):
    """SPEC details that need the byte-exact peer (aiosmtpd)."""
    import email
    import email.policy
    st = Store("aiosmtpd", d)
    # A NUL byte is a data error (65) and nothing is delivered.
    r = s.send(port, headers(b"nul") + b"\r\nbefore\x00after\r\n", ["rcpt@example.net"])
    got, _ = st.new(1, QUIET_WAIT["aiosmtpd"])
    check("aiosmtpd-nul-byte-exit65", r.rc == 65 and not got,
          r.why() + "; stored %d" % len(got))
    # A leading mbox "From " line is dropped.
    body = headers(b"mbox from") + b"\r\nbody\r\n"
    r = s.send(port, b"From sender@example.org Sat Nov 28 12:00:00 2026\n" + body,
               ["rcpt@example.net"])
    got, _ = st.new(1, WAIT["aiosmtpd"])
    check("aiosmtpd-mbox-from-line-dropped",
          r.rc == 0 and len(got) == 1 and got[0] == wire(body),
          r.why() if r.rc else "stored %r" % (got[0][:80] if got else None))
    # The null sender.
    r = s.send(port, MESSAGES["plain"], ["rcpt@example.net"], sender="<>")
    got, envs = st.new(1, WAIT["aiosmtpd"])
    # aiosmtpd records MAIL FROM:<> as "<>".
    check("aiosmtpd-null-sender", r.rc == 0 and envs and envs[0][0] in ("", "<>"),
          r.why() if r.rc else "envelope %s" % envs)
    # No line over 998 octets on the wire (RFC 5322 2.1.1); a message that
    # is not multipart is re-encoded as quoted-printable, losslessly.
    long_line = b"0123456789 " * 300 + b"\xc3\xa9 end"
    r = s.send(port, headers(b"long line") + b"\r\nshort\r\n" + long_line + b"\r\nlast\r\n",
               ["rcpt@example.net"])
    got, _ = st.new(1, WAIT["aiosmtpd"])
    if r.rc != 0 or len(got) != 1:
        fail("aiosmtpd-long-line-qp", r.why() + "; stored %d" % len(got))
    else:
        longest = max(len(l) for l in got[0].split(b"\r\n"))
        m = email.message_from_bytes(got[0], policy=email.policy.compat32)
        payload = m.get_payload(decode=True) or b""
        check("aiosmtpd-long-line-qp",
              longest <= 998 and payload.replace(b"\r\n", b"\n") ==
              b"short\n" + long_line + b"\nlast\n",
              "longest line %d, CTE %s, decoded %r" % (
                  longest, m.get("Content-Transfer-Encoding"), payload[:60]))


def valgrind_check(s):
    name = "valgrind-sink-plain"
    if shutil.which("valgrind") is None:
        fail(name, "valgrind not installed (apt-get install valgrind)")
        return
    port, d = s.start("sink-valgrind", "sink")
    if port is None:
        fail(name, "server did not start")
        return
    vlog = os.path.join(s.work, "valgrind.log")
    r = s.send(port, MESSAGES["dots"], ["rcpt@example.net", "two@example.net"],
               wrapper=["valgrind", "-q", "--leak-check=full",
                        "--errors-for-leak-kinds=definite,indirect",
                        "--error-exitcode=99", "--log-file=" + vlog], timeout=180)
    try:
        with open(vlog, "rb") as f:
            log = f.read()
    except OSError:
        log = b""
    check(name, r.rc == 0 and not log.strip(),
          "exit %s; valgrind: %s; stderr: %s" % (r.rc, log.decode("utf-8", "replace")[-500:],
                                                  r.err[-200:]))
    s.stop("sink-valgrind")


def opensmtpd_checks(s):
    port, d = s.start("opensmtpd", "opensmtpd")
    if port is None:
        fail("opensmtpd", "server did not start; no OpenSMTPD checks ran")
        return
    # Accepting any message proves smtpsend did not pipeline: this server
    # answers pipelined commands with 500 5.5.1 when PIPELINING is not offered.
    delivery_checks(s, "opensmtpd", port, d)
    refusal_checks(s, "opensmtpd", port, d, "reject@opensmtpd.test")
    with open(os.path.join(d, "smtpd.log"), "rb") as f:
        log = f.read()
    check("opensmtpd-no-pipelining-errors", b"Pipelining not supported" not in log,
          "OpenSMTPD saw pipelined commands")
    s.stop("opensmtpd")


def main():
    become_subreaper()
    # SMTPSEND is relative to the caller's directory, else to the repository.
    given = os.environ.get("SMTPSEND", "./smtpsend")
    smtpsend = os.path.abspath(given)
    if not os.path.exists(smtpsend):
        smtpsend = os.path.join(ROOT, given)
    os.chdir(ROOT)
    started = time.time()
    work = tempfile.mkdtemp(prefix="smtpsend-real.")
    os.chmod(work, 0o755)   # smtp-sink and the mdas write here as nobody
    s = Suite(smtpsend, work)

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if not os.access(smtpsend, os.X_OK):
            fail("smtpsend-present", "%s is not an executable (run make)" % smtpsend)
        else:
            run_all(s)
    except KeyboardInterrupt:
        fail("interrupted", "signal received")
    except Exception as e:   # a harness bug must not leave servers behind
        fail("harness", "%s: %s" % (type(e).__name__, e))
    finally:
        s.stop_all()
    if failed == 0 and not os.environ.get("KEEP"):
        shutil.rmtree(work, ignore_errors=True)
    else:
        print("# work directory kept: %s" % work)
    print("# real-server suite took %.1f s" % (time.time() - started))
    print("SUITE real: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def run_all(s):
    asan = "asan" in s.smtpsend or b"libasan" in subprocess.run(
        ["ldd", s.smtpsend], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout

    port, d = s.start("aiosmtpd", "aiosmtpd")
    if port is None:
        fail("aiosmtpd", "server did not start; no aiosmtpd checks ran")
    else:
        delivery_checks(s, "aiosmtpd", port, d)
        refusal_checks(s, "aiosmtpd", port, d, "reject@example.net", "tempfail@example.net")
        partial_check(s, "aiosmtpd", port, d, "reject@example.net")
        extra_checks(s, port, d)
        s.stop("aiosmtpd")

    port, d = s.start("sink", "sink")
    if port is None:
        fail("sink", "server did not start; no smtp-sink checks ran")
    else:
        delivery_checks(s, "sink", port, d)
        s.stop("sink")
    sink_feature_checks(s)
    sink_fault_checks(s)

    port, d = s.start("postfix", "postfix")
    if port is None:
        fail("postfix", "server did not start; no Postfix checks ran")
    else:
        delivery_checks(s, "postfix", port, d)
        refusal_checks(s, "postfix", port, d, "reject@smtpsend.test")
        s.stop("postfix")

    opensmtpd_checks(s)

    if asan:
        print("# valgrind step skipped: %s is an ASan build" % s.smtpsend)
    else:
        valgrind_check(s)


if __name__ == "__main__":
    sys.exit(main())
