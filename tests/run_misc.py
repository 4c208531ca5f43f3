#!/usr/bin/python3
"""Checks that need more than one fake-server case: installation
(PREFIX/DESTDIR, the man page, the sendmail link), the program invoked
as sendmail, replies shown on a terminal (a pty), --help and --version,
the man page and --help naming the same options.

Last line: "SUITE misc: N passed, M failed".
"""
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("SMTPSEND", os.path.join(ROOT, "smtpsend"))
if not os.path.isabs(BIN):
    BIN = os.path.join(ROOT, BIN)
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
passed = failed = 0


def check(name, cond, why=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok", name)
    else:
        failed += 1
        print("FAIL %s: %s" % (name, why))


SCRIPT = """send 220 fake.test ESMTP
expect EHLO
send 250-fake.test
send 250 PIPELINING
expect MAIL
expect RCPT
expect DATA
send 250 2.1.0 Ok
send 250 2.1.5 Ok
send 354 go ahead
data
send 250 2.0.0 Ok: queued as ABC123
"""

MSG = b"To: rcpt@example.org\nSubject: misc\n\nhello\n"


def fake_server(tmp, script=SCRIPT):
    sp = os.path.join(tmp, "script")
    with open(sp, "w") as f:
        f.write(script)
    rec = os.path.join(tmp, "rec.json")
    p = subprocess.Popen([PY, os.path.join(ROOT, "tests/fakesmtp.py"), sp,
                          "--record", rec, "--timeout", "20"],
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    port = int(line.split()[1])
    return p, port, rec


def test_install(tmp):
    dest = os.path.join(tmp, "dest")
    r = subprocess.run(["make", "-s", "install-sendmail", "DESTDIR=" + dest,
                        "PREFIX=/opt/ss"], cwd=ROOT, capture_output=True,
                       text=True)
    check("install: make install-sendmail", r.returncode == 0, r.stderr)
    b = os.path.join(dest, "opt/ss/bin/smtpsend")
    check("install: binary under DESTDIR/PREFIX", os.access(b, os.X_OK), b)
    check("install: man page",
          os.path.exists(os.path.join(dest, "opt/ss/share/man/man1/smtpsend.1")))
    link = os.path.join(dest, "opt/ss/sbin/sendmail")
    check("install: sendmail link",
          os.path.islink(link) and os.readlink(link) == "/opt/ss/bin/smtpsend",
          os.readlink(link) if os.path.islink(link) else "missing")


def test_sendmail_name(tmp):
    """The same binary called sendmail, with cron's exact flags."""
    d = os.path.join(tmp, "sm")
    os.makedirs(d)
    link = os.path.join(d, "sendmail")
    os.symlink(BIN, link)
    srv, port, rec = fake_server(d)
    r = subprocess.run([link, "--host=127.0.0.1", "--port=%d" % port,
                        "--domain=client.test", "--tls=off",
                        "-FCronDaemon", "-odi", "-oem", "-oi", "-t",
                        "-f", "root@client.test"],
                       input=MSG, capture_output=True, timeout=30,
                       env=dict(os.environ, HOME=d))
    srv.wait(timeout=30)
    check("sendmail name: cron flags exit 0", r.returncode == 0,
          "exit %d: %s" % (r.returncode, r.stderr.decode(errors="replace")))
    got = open(rec).read() if os.path.exists(rec) else ""
    check("sendmail name: RCPT from -t", "RCPT TO:<rcpt@example.org>" in got,
          got[:300])
    r = subprocess.run([link, "-bz"], capture_output=True, timeout=10)
    check("sendmail name: bad mode is a one-line usage error 64",
          r.returncode == 64 and r.stderr.decode().startswith("sendmail: ")
          and r.stderr.decode().count("\n") == 1, r.stderr)


def test_tty(tmp):
    """On a terminal, each reply shows as it arrives, one line each."""
    d = os.path.join(tmp, "tty")
    os.makedirs(d)
    srv, port, rec = fake_server(d)
    mfile = os.path.join(d, "msg")
    with open(mfile, "wb") as f:
        f.write(MSG)
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["HOME"] = d
        os.execv(BIN, [BIN, "--host=127.0.0.1", "--port=%d" % port,
                       "--domain=client.test", "--tls=off",
                       "--file=" + mfile, "-f", "a@client.test",
                       "rcpt@example.org"])
    out = b""
    end = time.time() + 20
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    _, status = os.waitpid(pid, 0)
    srv.wait(timeout=30)
    text = out.decode(errors="replace").replace("\r", "")
    check("tty: exit 0", os.WEXITSTATUS(status) == 0, text)
    for want in ("220 fake.test ESMTP", "250 2.1.5 Ok", "354 go ahead",
                 "250 2.0.0 Ok: queued as ABC123"):
        check("tty: shows %r" % want, want in text, text)
    check("tty: no transcript arrows without -v", "->" not in text, text)


def test_help_version():
    r = subprocess.run([BIN, "--version"], capture_output=True, text=True)
    check("--version", r.returncode == 0 and
          re.match(r"smtpsend \d+\.\d+", r.stdout), r.stdout)
    r = subprocess.run([BIN, "--help"], capture_output=True, text=True)
    check("--help exit 0 on stdout", r.returncode == 0 and "usage:" in r.stdout)
    helptext = r.stdout
    man = open(os.path.join(ROOT, "docs/smtpsend.1")).read()
    # the long options are the rows of options.c's settings table
    src = open(os.path.join(ROOT, "options.c")).read()
    longs = re.findall(r'^\t[SBF]\("([a-z0-9-]+)", ', src, re.M)
    check("long options found", len(longs) > 10, longs)
    for o in longs:
        check("--%s in --help" % o, "--" + o in helptext)
        check("--%s in the man page" % o, ("Fl \\-" + o) in man)


def main():
    tmp = tempfile.mkdtemp(prefix="smtpsend-misc-")
    try:
        if "asan" not in BIN:
            test_install(tmp)
        test_sendmail_name(tmp)
        test_tty(tmp)
        test_help_version()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("SUITE misc: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
