#!/usr/bin/python3
"""tests/run_callers.py - real programs that call sendmail, with smtpsend
installed under a test prefix as sbin/sendmail, against real servers on
127.0.0.1.

    SMTPSEND=./smtpsend /usr/bin/python3 tests/run_callers.py

${SMTPSEND:-./smtpsend} is the program under test.  When it is ./smtpsend
it is installed with "make install-sendmail DESTDIR= PREFIX=WORK/prefix"
(the way a user installs it); any other binary (build-asan/smtpsend) gets
a prefix of symlinks, bin/smtpsend and sbin/sendmail, pointing at it.

Callers (Debian packages in dev.sh's PKGS):
  bsd-mailx    mail -s SUBJECT [-c] [-b] [-r] [-a] -- RCPT..., body on stdin
               (it runs "sendmail -i -t [-f FROM]"; its ~/.mailrc names our
               sendmail with "set sendmail=PATH")
  cron         the exact invocations of Vixie cron (as in SPEC: -FCronDaemon
               -odi -oem -oi -t), Debian's cron (-i -FCronDaemon -B8BITMIME
               -oem USER) and cronie (-FCronDaemon -i -odi -oem -oi -t -f
               USER), with a cron-built message; cron passes no -C, so the
               config is the default ~/.config/smtpsend/config
  git-email    git send-email of a git format-patch series, through
               sendemail.sendmailcmd and through --sendmail-cmd
  php-cli      PHP's mail() with sendmail_path = "PATH -t -i" (php.ini's
               default form), extra headers, a multi-line body, the fifth
               parameter "-fADDR"
Servers (tests/servers recipes, stopped by PID): a private Postfix smtpd
delivering to DIR/Maildir (one file per recipient, X-Original-To names it),
and aiosmtpd storing the exact wire bytes and the envelope (MAIL FROM).

Every message is checked in the server's store: the headers the caller
set, the body bytes, the envelope recipients (and sender where it matters),
and that no Bcc recipient shows in any header.

Prints "ok NAME" or "FAIL NAME: why"; a missing caller is a FAIL naming
its package, never a skip.  Last line exactly
"SUITE callers: N passed, M failed"; exit 1 when anything failed.
KEEP=1 keeps the work directory.
"""
import email
import email.policy
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
PY = "/usr/bin/python3"

sys.path.insert(0, HERE)
from run_real import become_subreaper, reap  # noqa: E402  (shared)

passed = 0
failed = 0


def ok(name):
    global passed
    passed += 1
    print("ok %s" % name, flush=True)


def fail(name, why):
    global failed
    failed += 1
    why = str(why).strip().replace("\n", " | ")
    if len(why) > 700:
        why = why[:700] + "..."
    print("FAIL %s: %s" % (name, why), flush=True)


def check(name, cond, why=""):
    if cond:
        ok(name)
    else:
        fail(name, why)
    return bool(cond)


def lf(data):
    """DATA with every CRLF / lone CR / LF as LF and a final LF (the form
    a Maildir holds after SMTP's normalisation)."""
    lines = re.split(rb"\r\n|\r|\n", data)
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join(l + b"\n" for l in lines)


def crlf(data):
    return lf(data).replace(b"\n", b"\r\n")


# --- what the servers stored ------------------------------------------------

TRACE = re.compile(rb"^(Return-Path|X-Original-To|Delivered-To|Received):", re.I)


class Stored:
    """One delivered file: trace fields the server prepended, then the
    message as sent (header block, body)."""

    def __init__(self, raw, eol=b"\n", env=None):
        self.raw = raw
        self.env = env                  # aiosmtpd: [mail_from, rcpt...]
        pos, in_trace = 0, False
        while pos < len(raw):
            end = raw.find(eol, pos)
            if end < 0:
                break
            line = raw[pos:end]
            if TRACE.match(line):
                in_trace = True
            elif not (in_trace and line[:1] in (b" ", b"\t")):
                break
            pos = end + len(eol)
        self.trace = raw[:pos]
        self.message = raw[pos:]
        head, sep, body = self.message.partition(eol + eol)
        self.head = head + eol
        self.body = body if sep else None
        self.msg = email.message_from_bytes(self.message.replace(b"\r\n", b"\n"),
                                            policy=email.policy.compat32)

    def tracev(self, name):
        for line in self.trace.split(b"\n"):
            if line.lower().startswith(name.lower().encode() + b":"):
                return line.split(b":", 1)[1].strip().strip(b"<>").decode("utf-8", "replace")
        return None

    @property
    def rcpt(self):
        return self.tracev("X-Original-To")

    @property
    def return_path(self):
        return self.tracev("Return-Path")

    def hdr(self, name):
        """The unfolded value of header NAME, or None."""
        v = self.msg.get(name)
        if v is None:
            return None
        return re.sub(r"\r?\n[ \t]+", " ", str(v)).strip()

    def hdrs(self, name):
        return [re.sub(r"\r?\n[ \t]+", " ", str(v)).strip()
                for v in (self.msg.get_all(name) or [])]


class Maildir:
    """New files in a Postfix Maildir since the last call."""

    def __init__(self, d):
        self.dir = os.path.join(d, "Maildir", "new")
        self.seen = set(self.names())

    def names(self):
        try:
            return sorted(os.listdir(self.dir))
        except OSError:
            return []

    def new(self, count, wait=20.0):
        """Wait up to WAIT s for COUNT new files (then a moment for any
        extra); return every new one."""
        deadline = time.time() + wait
        while True:
            fresh = [n for n in self.names() if n not in self.seen]
            if len(fresh) >= count or time.time() >= deadline:
                break
            time.sleep(0.05)
        if count == 0 or len(fresh) >= count:
            time.sleep(0.3 if count else 1.5)   # stragglers (too many copies)
            fresh = [n for n in self.names() if n not in self.seen]
        self.seen.update(fresh)
        out = []
        for n in fresh:
            with open(os.path.join(self.dir, n), "rb") as f:
                out.append(Stored(f.read()))
        return out


class WireStore:
    """aiosmtpd's store: exact wire bytes (CRLF) and the envelope."""

    def __init__(self, d):
        self.dir = os.path.join(d, "mail")
        self.seen = set(self.names())

    def names(self):
        try:
            return sorted(n for n in os.listdir(self.dir) if n.endswith(".eml"))
        except OSError:
            return []

    def new(self, count, wait=5.0):
        deadline = time.time() + wait
        while True:
            fresh = [n for n in self.names() if n not in self.seen]
            if len(fresh) >= count or time.time() >= deadline:
                break
            time.sleep(0.05)
        self.seen.update(fresh)
        out = []
        for n in fresh:
            with open(os.path.join(self.dir, n), "rb") as f:
                raw = f.read()
            with open(os.path.join(self.dir, n[:-4] + ".env")) as f:
                env = f.read().split("\n")[:-1]
            out.append(Stored(raw, b"\r\n", env))
        return out


def first_diff(got, want):
    if got is None:
        return "no body (no blank line after the header)"
    n = min(len(got), len(want))
    i = next((k for k in range(n) if got[k] != want[k]), n)
    return "body differs at byte %d of %d/%d: got %r want %r" % (
        i, len(got), len(want), got[max(0, i - 20):i + 40], want[max(0, i - 20):i + 40])


# --- the suite ------------------------------------------------------------------

class Result:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def why(self):
        rc = self.rc
        if isinstance(rc, int) and rc < 0:
            rc = "%d (killed by %s)" % (rc, signal.Signals(-rc).name)
        return "exit %s; stdout: %s; stderr: %s" % (
            rc, self.out.decode("utf-8", "replace")[-300:],
            self.err.decode("utf-8", "replace")[-400:])


class Suite:
    def __init__(self, smtpsend, work):
        self.smtpsend = smtpsend
        self.work = work
        self.prefix = os.path.join(work, "prefix")
        self.sendmail = os.path.join(self.prefix, "sbin", "sendmail")
        self.servers = {}
        self.pf_port = self.pf_dir = None
        self.ai_port = self.ai_dir = None

    # --- servers
    def start(self, name, recipe):
        d = os.path.join(self.work, name)
        os.makedirs(d)
        try:
            p = subprocess.run(["sh", os.path.join(SERVERS, recipe + ".sh"), "start", d],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, timeout=60)
            out = p.stderr + p.stdout
            rc = p.returncode
        except subprocess.TimeoutExpired:
            out, rc = b"timed out", "timeout"
        reap()
        self.servers[name] = (recipe, d)
        try:
            with open(os.path.join(d, "port")) as f:
                port = int(f.read())
        except (OSError, ValueError):
            port = None
        if rc != 0 or port is None:
            fail("start-" + name, "%s recipe did not start: %s" %
                 (recipe, out.decode("utf-8", "replace")[-500:]))
            return None, d
        ok("start-" + name)
        return port, d

    def stop_all(self):
        for name, (recipe, d) in list(self.servers.items()):
            try:
                subprocess.run(["sh", os.path.join(SERVERS, recipe + ".sh"), "stop", d],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               timeout=60)
            except subprocess.TimeoutExpired:
                print("# %s did not stop in 60 s" % name, flush=True)
            del self.servers[name]
        reap()

    # --- installation
    def install(self):
        name = "install-prefix"
        given = os.path.realpath(self.smtpsend)
        if given == os.path.realpath(os.path.join(ROOT, "smtpsend")):
            how = "make install-sendmail"
            p = subprocess.run(["make", "-s", "-C", ROOT, "install-sendmail", "DESTDIR=",
                                "PREFIX=" + self.prefix],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, timeout=300)
            if p.returncode != 0:
                fail(name, "make install-sendmail failed: %s" %
                     (p.stderr + p.stdout).decode("utf-8", "replace")[-400:])
                return False
        else:
            how = "symlinks"
            for sub, base in (("bin", "smtpsend"), ("sbin", "sendmail")):
                os.makedirs(os.path.join(self.prefix, sub), exist_ok=True)
                os.symlink(given, os.path.join(self.prefix, sub, base))
        bin_ = os.path.join(self.prefix, "bin", "smtpsend")
        good = (os.access(bin_, os.X_OK) and os.access(self.sendmail, os.X_OK) and
                os.path.realpath(self.sendmail) == os.path.realpath(bin_))
        return check(name + " (%s)" % how, good,
                     "%s or %s missing or not the same program" % (bin_, self.sendmail))

    # --- homes and configs
    def home(self, name, port, extra=(), mailrc=True):
        """A fresh HOME with ~/.config/smtpsend/config (and ~/.mailrc
        naming our sendmail for bsd-mailx)."""
        h = os.path.join(self.work, "home-" + name)
        os.makedirs(os.path.join(h, ".config", "smtpsend"))
        lines = ["# written by tests/run_callers.py",
                 "host 127.0.0.1", "port %d" % port, "tls off",
                 "logfile %s/smtpsend.log" % h] + list(extra)
        with open(os.path.join(h, ".config", "smtpsend", "config"), "w") as f:
            f.write("\n".join(lines) + "\n")
        if mailrc:
            with open(os.path.join(h, ".mailrc"), "w") as f:
                f.write("set sendmail=%s\n" % self.sendmail)
        return h

    def env(self, home, **extra):
        e = {"HOME": home, "PATH": "/usr/local/bin:/usr/bin:/bin",
             "LOGNAME": "root", "USER": "root", "LANG": "C.UTF-8", "TZ": "UTC",
             "GIT_CONFIG_NOSYSTEM": "1"}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                e[k] = os.environ[k]
        e.update(extra)
        return e

    def run(self, argv, home, stdin=b"", cwd=None, timeout=30, **extra):
        try:
            p = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=cwd or home,
                               env=self.env(home, **extra), timeout=timeout)
            r = Result(p.returncode, p.stdout, p.stderr)
        except subprocess.TimeoutExpired as e:
            r = Result("timeout after %ds" % timeout, e.stdout or b"", e.stderr or b"")
        except OSError as e:
            r = Result("cannot run %s: %s" % (argv[0], e), b"", b"")
        reap()
        return r


def smtpsend_log(home):
    try:
        with open(os.path.join(home, "smtpsend.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")[-400:]
    except OSError:
        return "(no smtpsend log: smtpsend did not run, or did not log)"


def ran_ok(store, name, cond, why):
    """check(); when the caller failed, still take whatever the server
    stored in the next 2 s, so it is not blamed on the next test."""
    if check(name, cond, why):
        return True
    store.new(1000, 2)
    return False


def check_copies(name, got, want_rcpts, home):
    """One stored copy per envelope recipient (Postfix's virtual delivery),
    all of the same message.  Returns the first copy or None."""
    rcpts = sorted(s.rcpt or "?" for s in got)
    if not check(name + "-envelope-recipients", rcpts == sorted(want_rcpts),
                 "delivered to %s, expected %s; smtpsend log: %s" %
                 (rcpts, sorted(want_rcpts), smtpsend_log(home))):
        return got[0] if got else None
    bodies = set(s.message for s in got)
    check(name + "-same-message-to-all", len(bodies) == 1,
          "the %d copies differ" % len(got))
    return got[0]


def check_no_bcc(name, got, secret):
    leaks = []
    for s in got:
        if s.msg.get_all("Bcc") is not None:
            leaks.append("Bcc header in the copy for %s" % s.rcpt)
        elif secret.encode().lower() in s.head.lower():
            leaks.append("%s named in the header of the copy for %s" % (secret, s.rcpt))
    check(name + "-no-bcc", not leaks and got, "; ".join(leaks) or "nothing delivered")


def check_hdr(name, s, field, want, how="eq"):
    got = s.hdr(field) if s is not None else None
    if how == "eq":
        cond = got == want
    elif how == "in":
        cond = got is not None and want in got
    else:                      # "re"
        cond = got is not None and re.search(want, got) is not None
    return check("%s-header-%s" % (name, field.lower()), cond,
                 "%s: %r, expected %s %r" % (field, got, {"eq": "", "in": "containing",
                                                            "re": "matching"}[how], want))


def check_body(name, s, want):
    check(name + "-body-bytes", s is not None and s.body == want,
          first_diff(s.body if s else None, want))


# --- bsd-mailx -------------------------------------------------------------------

MAILX = "/usr/bin/bsd-mailx"


def mailx_tests(s):
    if not os.access(MAILX, os.X_OK):
        fail("mailx", "%s missing: install Debian package bsd-mailx" % MAILX)
        return
    st = Maildir(s.pf_dir)

    # mail -s with the body on stdin, Cc and Bcc.
    name = "mailx-s-stdin"
    h = s.home(name, s.pf_port, ["maildomain example.org"])
    body = (b"Disk usage report\n\nline with a lone dot follows\n.\n"
            b"..two dots\n. dot space\nUTF-8: gr\xc3\xbc\xc3\x9fe \xe2\x82\xac\n"
            b"last line\n")
    r = s.run([MAILX, "-s", "Disk report for host1", "-c", "cc@example.net",
               "-b", "blind@example.com", "--", "alice@example.com", "bob@example.net"],
              h, body)
    rcpts = ["alice@example.com", "bob@example.net", "cc@example.net", "blind@example.com"]
    if ran_ok(st, name + "-exit0", r.rc == 0 and not r.err.strip(), r.why()):
        got = st.new(len(rcpts))
        one = check_copies(name, got, rcpts, h)
        check_hdr(name, one, "Subject", "Disk report for host1")
        check_hdr(name, one, "To", r"^(?=.*alice@example\.com)(?=.*bob@example\.net)", "re")
        check_hdr(name, one, "Cc", "cc@example.net")
        # mailx writes no From:, Date: or Message-ID: smtpsend adds them.
        check_hdr(name, one, "From", r"[^@\s<]+@[^@\s>]+", "re")
        check_hdr(name, one, "Date", r"\d{4} \d\d:\d\d:\d\d [+-]\d{4}", "re")
        check_hdr(name, one, "Message-ID", r"^<[^<>@\s]+@[^<>@\s]+>$", "re")
        check_no_bcc(name, got, "blind@example.com")
        check_body(name, one, body)

    # -r (mailx then runs "sendmail -i -t -f ADDR"), an extra header (-a),
    # a local recipient resolved through the aliases file.
    name = "mailx-r-a-alias"
    aliases = os.path.join(s.work, "aliases-mailx")
    with open(aliases, "w") as f:
        f.write("# msmtp syntax\npostmaster: pm@example.net\n")
    h = s.home(name, s.pf_port, ["maildomain example.org", "aliases " + aliases])
    body = b"sent with -r\nsecond line\n"
    r = s.run([MAILX, "-r", "Report Robot <robot@example.com>", "-a", "X-Report-Id: 42",
               "-s", "with -r and -a", "--", "carol@example.org", "postmaster"], h, body)
    rcpts = ["carol@example.org", "pm@example.net"]
    if ran_ok(st, name + "-exit0", r.rc == 0 and not r.err.strip(), r.why()):
        got = st.new(len(rcpts))
        one = check_copies(name, got, rcpts, h)
        check(name + "-envelope-sender", one is not None and
              one.return_path == "robot@example.com",
              "Return-Path %r, expected robot@example.com" % (one and one.return_path))
        check_hdr(name, one, "From", "Report Robot <robot@example.com>")
        check_hdr(name, one, "X-Report-Id", "42")
        check_hdr(name, one, "Subject", "with -r and -a")
        check_body(name, one, body)

    # A refused recipient: mailx reports sendmail's failure, nothing is
    # delivered to the others (all-or-nothing), the message is kept.
    name = "mailx-refused-rcpt"
    h = s.home(name, s.pf_port)
    r = s.run([MAILX, "-s", "refused", "--", "good@example.net", "reject@smtpsend.test"],
              h, b"keep me\n")
    got = st.new(0)
    check(name + "-caller-sees-failure", r.rc != 0 and b"67" in r.err,
          "mailx %s (expected sendmail's exit 67 reported)" % r.why())
    check(name + "-nothing-delivered", not got,
          "%d copies delivered: %s" % (len(got), [g.rcpt for g in got]))
    check(name + "-dead-letter", b"keep me" in read(os.path.join(h, "dead.letter")),
          "~/dead.letter missing or without the message")


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


# --- cron ---------------------------------------------------------------------------

def cron_message(to, cmd, output):
    """What cron writes to sendmail's stdin (Debian's cron 3.0pl1 and
    Vixie cron 4.1 build the same header)."""
    return (b"From: root (Cron Daemon)\n"
            b"To: " + to + b"\n"
            b"Subject: Cron <root@vm> " + cmd + b"\n"
            b"MIME-Version: 1.0\n"
            b"Content-Type: text/plain; charset=UTF-8\n"
            b"Content-Transfer-Encoding: 8bit\n"
            b"X-Cron-Env: <SHELL=/bin/sh>\n"
            b"X-Cron-Env: <HOME=/root>\n"
            b"X-Cron-Env: <PATH=/usr/bin:/bin>\n"
            b"X-Cron-Env: <LOGNAME=root>\n"
            b"\n" + output)


CRON_OUTPUT = (b"backup: 3 files copied\n.\n..\nwarning: disk 91% full\n"
               b"caf\xc3\xa9 done\n")
VIXIE = ["-FCronDaemon", "-odi", "-oem", "-oi", "-t"]          # SPEC, Vixie cron
DEBIAN = ["-i", "-FCronDaemon", "-B8BITMIME", "-oem"]           # + user
CRONIE = ["-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t", "-f"]  # + user


def cron_header_checks(name, one, cmd):
    check_hdr(name, one, "Subject", "Cron <root@vm> " + cmd)
    check_hdr(name, one, "From", "Cron Daemon", "in")
    check(name + "-header-x-cron-env", one is not None and one.hdrs("X-Cron-Env") ==
          ["<SHELL=/bin/sh>", "<HOME=/root>", "<PATH=/usr/bin:/bin>", "<LOGNAME=root>"],
          "X-Cron-Env: %r" % (one and one.hdrs("X-Cron-Env")))


def qualified(addr):
    return bool(addr) and re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", addr) is not None


def cron_tests(s):
    st = Maildir(s.pf_dir)
    aliases = os.path.join(s.work, "aliases-cron")
    with open(aliases, "w") as f:
        f.write("# msmtp syntax\nroot: admin@example.net, ops\n"
                "default: catchall@example.net\n")

    # Vixie cron (SPEC): -t, "To: root" mapped by the aliases file; a
    # local name in an alias gets maildomain.
    name = "cron-vixie"
    cmd = b"/usr/local/bin/backup --all"
    h = s.home(name, s.pf_port, ["maildomain example.org", "aliases " + aliases])
    msg = cron_message(b"root", cmd, CRON_OUTPUT)
    r = s.run([s.sendmail] + VIXIE, h, msg)
    rcpts = ["admin@example.net", "ops@example.org"]
    if ran_ok(st, name + "-exit0", r.rc == 0 and not r.err.strip(), r.why()):
        got = st.new(len(rcpts))
        one = check_copies(name, got, rcpts, h)
        cron_header_checks(name, one, cmd.decode())
        check_body(name, one, CRON_OUTPUT)

    # Debian's cron: the recipient (MAILTO or the crontab's owner) on the
    # command line, no -t.  "alice" is not in the aliases file: default:.
    name = "cron-debian"
    cmd = b"run-parts /etc/cron.daily"
    h = s.home(name, s.pf_port, ["maildomain example.org", "aliases " + aliases])
    msg = cron_message(b"alice", cmd, CRON_OUTPUT)
    r = s.run([s.sendmail] + DEBIAN + ["alice"], h, msg)
    if ran_ok(st, name + "-exit0", r.rc == 0 and not r.err.strip(), r.why()):
        got = st.new(1)
        one = check_copies(name, got, ["catchall@example.net"], h)
        cron_header_checks(name, one, cmd.decode())
        check_body(name, one, CRON_OUTPUT)

    # The wire: exact bytes and the envelope (aiosmtpd).  With maildomain
    # and no aliases, "root" is root@example.org; the envelope sender
    # must be a full address too (RFC 5321 4.1.2: a reverse-path has a
    # domain; Exim and most providers refuse MAIL FROM:<root>).
    if s.ai_port is None:
        fail("cron-wire", "aiosmtpd did not start")
        return
    wst = WireStore(s.ai_dir)
    for variant, argv in (("vixie", VIXIE), ("cronie", CRONIE + ["root"]),
                          ("debian", DEBIAN + ["root"])):
        name = "cron-%s-wire" % variant
        h = s.home(name, s.ai_port, ["maildomain example.org"])
        msg = cron_message(b"root", b"echo " + variant.encode(), CRON_OUTPUT)
        r = s.run([s.sendmail] + argv, h, msg)
        if not ran_ok(wst, name + "-exit0", r.rc == 0 and not r.err.strip(), r.why()):
            continue
        got = wst.new(1)
        if not check(name + "-stored", len(got) == 1, "stored %d messages" % len(got)):
            continue
        g = got[0]
        check(name + "-rcpt-maildomain", g.env[1:] == ["root@example.org"],
              "RCPT TO %s, expected root@example.org" % g.env[1:])
        check(name + "-envelope-sender-qualified", qualified(g.env[0]),
              "MAIL FROM:<%s> (no domain; expected root@example.org from "
              "maildomain); a relay such as Exim answers 501" % g.env[0])
        # Exact bytes: cron's header and body as given, CRLF; smtpsend may
        # only append Date: and Message-ID: (cron writes neither), and
        # qualifies From: root and To: root as the envelope (SPEC: as
        # Postfix does; providers refuse "From: root").
        want = msg.replace(b"From: root (Cron", b"From: root@example.org (Cron", 1)
        want = want.replace(b"\nTo: root\n", b"\nTo: root@example.org\n", 1)
        head, _, body = crlf(want).partition(b"\r\n\r\n")
        added = [l for l in g.head.split(b"\r\n")[len(head.split(b"\r\n")):] if l]
        check(name + "-bytes", g.head.startswith(head + b"\r\n") and g.body == body and
              all(re.match(rb"^(Date|Message-ID): ", l, re.I) for l in added),
              "header %r / body %r" % (g.head[-200:], (g.body or b"")[:80]))

    # The relay is down when cron runs: with a queue, exit 0 ("queued"),
    # and "sendmail -q" (a cron line) delivers it later.
    name = "cron-relay-down-queue"
    qdir = os.path.join(s.work, "queue-cron")
    closed = free_port()
    h = s.home(name, closed, ["maildomain example.org", "queue " + qdir,
                               "timeout 10"])
    cmd = b"/usr/local/bin/nightly"
    msg = cron_message(b"root@example.org", cmd, CRON_OUTPUT)
    r = s.run([s.sendmail] + VIXIE, h, msg)
    got = st.new(0)
    check(name + "-exit0-queued", r.rc == 0 and not got,
          r.why() + "; %d delivered" % len(got))
    cfg = os.path.join(h, ".config", "smtpsend", "config")
    with open(cfg) as f:
        text = f.read()
    with open(cfg, "w") as f:           # the relay is back
        f.write(text.replace("port %d\n" % closed, "port %d\n" % s.pf_port))
    r = s.run([s.sendmail, "-q"], h)
    if ran_ok(st, name + "-flush-exit0", r.rc == 0, r.why()):
        got = st.new(1)
        one = check_copies(name, got, ["root@example.org"], h)
        cron_header_checks(name, one, cmd.decode())
        check_body(name, one, CRON_OUTPUT)


def free_port():
    import socket
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


# --- git send-email -----------------------------------------------------------------

def git(s, home, repo, *args):
    r = s.run(["git"] + list(args), home, cwd=repo)
    if r.rc != 0:
        raise RuntimeError("git %s: %s" % (" ".join(args), r.why()))
    return r.out


def git_tests(s):
    if not shutil.which("git"):
        fail("git-send-email", "git missing: install Debian package git")
        return
    if not os.path.exists("/usr/lib/git-core/git-send-email"):
        fail("git-send-email", "git send-email missing: install Debian package git-email")
        return
    if subprocess.run(["perl", "-MMail::Address", "-e1"], stderr=subprocess.DEVNULL).returncode:
        fail("git-send-email", "Perl's Mail::Address missing: install Debian package "
             "libmailtools-perl (git send-email needs it)")
        return
    st = Maildir(s.pf_dir)
    name = "git-send-email-series"
    h = s.home(name, s.pf_port, ["maildomain example.org"], mailrc=False)
    repo = os.path.join(s.work, "repo")
    os.makedirs(repo)
    try:
        git(s, h, repo, "init", "-q", "-b", "main", ".")
        git(s, h, repo, "config", "user.name", "Patch Author")
        git(s, h, repo, "config", "user.email", "author@example.com")
        with open(os.path.join(repo, "notes.txt"), "wb") as f:
            f.write(b"first line\n")
        git(s, h, repo, "add", "notes.txt")
        git(s, h, repo, "commit", "-q", "-m", "Initial commit")
        base = git(s, h, repo, "rev-parse", "HEAD").strip().decode()
        with open(os.path.join(repo, "notes.txt"), "ab") as f:
            f.write(b".\n..\nFrom the second patch on\n"
                    b"gr\xc3\xbc\xc3\x9fe \xe2\x82\xac\ntrailing space \n")
        git(s, h, repo, "commit", "-q", "-a", "-m", "notes: add dots and UTF-8",
            "-m", "A lone dot line must survive SMTP.\n.\nEnd of message.")
        with open(os.path.join(repo, "tool.sh"), "wb") as f:
            f.write(b"#!/bin/sh\necho hello\n")
        git(s, h, repo, "add", "tool.sh")
        git(s, h, repo, "commit", "-q", "-m", "Add tool.sh")
        tree = git(s, h, repo, "rev-parse", "HEAD^{tree}").strip()
        pdir = os.path.join(s.work, "patches")
        git(s, h, repo, "format-patch", "-q", "-o", pdir, base + "..HEAD")
        patches = sorted(os.path.join(pdir, p) for p in os.listdir(pdir))
        git(s, h, repo, "config", "sendemail.sendmailcmd", s.sendmail)
    except RuntimeError as e:
        fail(name, "setting up the repository: %s" % e)
        return
    if not check(name + "-format-patch", len(patches) == 2, "patches: %s" % patches):
        return
    r = s.run(["git", "send-email", "--to=maintainer@example.net",
               "--cc=reviewer@example.org", "--bcc=hidden@example.com",
               "--confirm=never", "--suppress-cc=all", "--quiet"] + patches,
              h, cwd=repo)
    rcpts = ["maintainer@example.net", "reviewer@example.org", "hidden@example.com"]
    if ran_ok(st, name + "-exit0", r.rc == 0, r.why()):
        got = st.new(2 * len(rcpts))
        by_subject = {}
        for g in got:
            by_subject.setdefault(g.hdr("Subject"), []).append(g)
        subjects = ["[PATCH 1/2] notes: add dots and UTF-8", "[PATCH 2/2] Add tool.sh"]
        if check(name + "-two-messages", sorted(by_subject) == subjects,
                 "subjects %s" % sorted(by_subject)):
            firsts = []
            for i, subj in enumerate(subjects):
                n = "%s-patch%d" % (name, i + 1)
                copies = by_subject[subj]
                one = check_copies(n, copies, rcpts, h)
                firsts.append(one)
                check_hdr(n, one, "From", "Patch Author <author@example.com>")
                check_hdr(n, one, "To", "maintainer@example.net")
                check_hdr(n, one, "Cc", "reviewer@example.org")
                check(n + "-envelope-sender", one.return_path == "author@example.com",
                      "Return-Path %r" % one.return_path)
                check_no_bcc(n, copies, "hidden@example.com")
                with open(patches[i], "rb") as f:
                    want = f.read().partition(b"\n\n")[2]
                check_body(n, one, want)
            check(name + "-threaded", firsts[1].hdr("In-Reply-To") ==
                  firsts[0].hdr("Message-Id"),
                  "In-Reply-To %r, Message-Id of 1/2 %r" %
                  (firsts[1].hdr("In-Reply-To"), firsts[0].hdr("Message-Id")))
            # The maintainer applies the delivered mails: the same tree.
            clone = os.path.join(s.work, "clone")
            try:
                git(s, h, s.work, "clone", "-q", "--no-checkout", repo, clone)
                git(s, h, clone, "config", "user.name", "Maintainer")
                git(s, h, clone, "config", "user.email", "maintainer@example.net")
                git(s, h, clone, "checkout", "-q", "-b", "apply", base)
                for i, subj in enumerate(subjects):
                    mbox = os.path.join(s.work, "mail%d.eml" % i)
                    c = [g for g in by_subject[subj] if g.rcpt == "maintainer@example.net"]
                    with open(mbox, "wb") as f:
                        f.write(c[0].message)
                    git(s, h, clone, "am", "-q", mbox)
                t = git(s, h, clone, "rev-parse", "HEAD^{tree}").strip()
                check(name + "-git-am-same-tree", t == tree,
                      "tree %s after git am, expected %s" % (t, tree))
            except (RuntimeError, IndexError) as e:
                fail(name + "-git-am-same-tree", str(e))

    # --sendmail-cmd on the command line, an envelope sender (git passes
    # "-f ADDR"), a recipient refused: git fails, nothing delivered.
    name = "git-send-email-cmdline"
    h2 = s.home(name, s.pf_port, mailrc=False)
    r = s.run(["git", "send-email", "--sendmail-cmd=" + s.sendmail,
               "--envelope-sender=bounces@example.com", "--to=list@example.org",
               "--confirm=never", "--suppress-cc=all", "--quiet", patches[1]], h2, cwd=repo)
    if ran_ok(st, name + "-exit0", r.rc == 0, r.why()):
        got = st.new(1)
        one = check_copies(name, got, ["list@example.org"], h2)
        check(name + "-envelope-sender", one is not None and
              one.return_path == "bounces@example.com",
              "Return-Path %r, expected bounces@example.com" % (one and one.return_path))
        check_hdr(name, one, "From", "Patch Author <author@example.com>")
        check_hdr(name, one, "Subject", "[PATCH 2/2] Add tool.sh")
    name = "git-send-email-refused"
    r = s.run(["git", "send-email", "--sendmail-cmd=" + s.sendmail,
               "--to=list@example.org", "--to=reject@smtpsend.test",
               "--confirm=never", "--suppress-cc=all", "--quiet", patches[1]], h2, cwd=repo)
    got = st.new(0)
    check(name + "-git-fails", r.rc != 0, "git send-email exit 0 (%s)" % r.why())
    check(name + "-nothing-delivered", not got, "%d copies delivered" % len(got))


# --- PHP mail() ---------------------------------------------------------------------

PHP_SCRIPT = r"""<?php
$to = $argv[1];
$subject = $argv[2];
$body = file_get_contents($argv[3]);
$headers = file_get_contents($argv[4]);
$params = $argc > 5 ? $argv[5] : "";
$ok = $params === "" ? mail($to, $subject, $body, $headers)
                     : mail($to, $subject, $body, $headers, $params);
echo $ok ? "mail() returned true\n" : "mail() returned false\n";
exit($ok ? 0 : 3);
"""

PHP_BODY = (b"Hello from the web application.\r\n"
            b"\r\n"
            b"A line with a lone dot follows:\r\n.\r\n"
            b".leading dot\r\n"
            b"Unicode: gr\xc3\xbc\xc3\x9fe \xe2\x82\xac\r\n"
            b"Regards,\r\nThe App")
PHP_HEADERS = (b"From: Web App <webapp@example.com>\r\n"
               b"Reply-To: support@example.com\r\n"
               b"Cc: phpcc@example.org\r\n"
               b"Bcc: phpbcc@example.net\r\n"
               b"X-Mailer: PHP test\r\n"
               b"MIME-Version: 1.0\r\n"
               b"Content-Type: text/plain; charset=UTF-8\r\n"
               b"Content-Transfer-Encoding: 8bit")


def php_tests(s):
    php = shutil.which("php")
    if not php:
        fail("php-mail", "php missing: install Debian package php-cli")
        return
    st = Maildir(s.pf_dir)
    script = os.path.join(s.work, "mail.php")
    files = {"body": PHP_BODY, "headers": PHP_HEADERS}
    for k, v in files.items():
        with open(os.path.join(s.work, "php-" + k), "wb") as f:
            f.write(v)
    with open(script, "w") as f:
        f.write(PHP_SCRIPT)
    # php.ini's form of the setting; -n: no system php.ini in the way.
    base = [php, "-n", "-d", "sendmail_path=%s -t -i" % s.sendmail, script]

    def php_mail(home, to, subject, params=None):
        argv = base + [to, subject, os.path.join(s.work, "php-body"),
                       os.path.join(s.work, "php-headers")]
        if params is not None:
            argv.append(params)
        return s.run(argv, home)

    name = "php-mail-headers"
    h = s.home(name, s.pf_port, ["maildomain example.org"], mailrc=False)
    r = php_mail(h, "Php To <phpto@example.net>", "Order #1234 confirmed")
    rcpts = ["phpto@example.net", "phpcc@example.org", "phpbcc@example.net"]
    if ran_ok(st, name + "-mail-returns-true", r.rc == 0 and not r.err.strip(), r.why()):
        got = st.new(len(rcpts))
        one = check_copies(name, got, rcpts, h)
        check_hdr(name, one, "To", "Php To <phpto@example.net>")
        check_hdr(name, one, "Subject", "Order #1234 confirmed")
        check_hdr(name, one, "From", "Web App <webapp@example.com>")
        check_hdr(name, one, "Reply-To", "support@example.com")
        check_hdr(name, one, "Cc", "phpcc@example.org")
        check_hdr(name, one, "X-Mailer", "PHP test")
        check_hdr(name, one, "Content-Type", "text/plain; charset=UTF-8")
        check(name + "-envelope-sender", one is not None and
              one.return_path == "webapp@example.com",
              "Return-Path %r, expected the From: address" % (one and one.return_path))
        check_no_bcc(name, got, "phpbcc@example.net")
        # PHP writes the body and then "\n".
        check_body(name, one, lf(PHP_BODY + b"\n"))

    name = "php-mail-f-param"
    h = s.home(name, s.pf_port, mailrc=False)
    r = php_mail(h, "dave@example.net", "with -f", "-fbounce+php@example.com")
    if ran_ok(st, name + "-mail-returns-true", r.rc == 0 and not r.err.strip(), r.why()):
        got = st.new(3)
        one = check_copies(name, got, ["dave@example.net", "phpcc@example.org",
                                       "phpbcc@example.net"], h)
        check(name + "-envelope-sender", one is not None and
              one.return_path == "bounce+php@example.com",
              "Return-Path %r, expected bounce+php@example.com" % (one and one.return_path))
        check_hdr(name, one, "From", "Web App <webapp@example.com>")
        check_no_bcc(name, got, "phpbcc@example.net")

    name = "php-mail-refused"
    h = s.home(name, s.pf_port, mailrc=False)
    r = php_mail(h, "ok@example.net, reject@smtpsend.test", "refused")
    got = st.new(0)
    check(name + "-mail-returns-false", r.rc == 3, r.why())
    check(name + "-nothing-delivered", not got,
          "%d copies delivered: %s" % (len(got), [g.rcpt for g in got]))
    check(name + "-dead-letter", b"lone dot" in read(os.path.join(h, "dead.letter")),
          "~/dead.letter missing or without the message")


# --- main ---------------------------------------------------------------------------

def run_all(s):
    if not s.install():
        return
    if not shutil.which("postfix") and not os.path.exists("/usr/sbin/postfix"):
        fail("postfix", "postfix missing: install Debian package postfix")
        return
    s.pf_port, s.pf_dir = s.start("postfix", "postfix")
    if s.pf_port is None:
        return
    s.ai_port, s.ai_dir = s.start("aiosmtpd", "aiosmtpd")
    for group in (mailx_tests, cron_tests, git_tests, php_tests):
        try:
            group(s)
        except Exception as e:   # one group's harness bug must not stop the rest
            fail(group.__name__, "harness: %s: %s" % (type(e).__name__, e))


def main():
    become_subreaper()
    given = os.environ.get("SMTPSEND", "./smtpsend")
    smtpsend = os.path.abspath(given)
    if not os.path.exists(smtpsend):
        smtpsend = os.path.join(ROOT, given)
    os.chdir(ROOT)
    started = time.time()
    work = tempfile.mkdtemp(prefix="smtpsend-callers.")
    os.chmod(work, 0o755)          # Postfix's virtual writes here as nobody
    s = Suite(smtpsend, work)

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if os.geteuid() != 0:
            fail("root", "the Postfix peer needs root (tests/servers/postfix.sh)")
        elif not os.access(smtpsend, os.X_OK):
            fail("smtpsend-present", "%s is not an executable (run make)" % smtpsend)
        else:
            run_all(s)
    except KeyboardInterrupt:
        fail("interrupted", "signal received")
    except Exception as e:
        fail("harness", "%s: %s" % (type(e).__name__, e))
    finally:
        s.stop_all()
    if failed == 0 and not os.environ.get("KEEP"):
        shutil.rmtree(work, ignore_errors=True)
    else:
        print("# work directory kept: %s" % work)
    print("# %.1f s" % (time.time() - started))
    print("SUITE callers: %d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
