#!/usr/bin/python3
"""run_cases.py - run the scripted protocol cases (tests/cases/*.case).

    run_cases.py [--bin PATH] [-j N] [-v] [--wrap CMD] [case ...]

For each case: start tests/fakesmtp.py with the case's server script,
run the binary with the case's arguments and stdin (HOME is a fresh
directory, stderr a pipe), then compare exit code, client lines,
message data, stderr, stdout and ~/dead.letter with the case's verdict.
The format is documented in tests/cases/README.md.  The last line of
output is always "SUITE cases: N passed, M failed"; exit status 1 if
any case failed.  Standard library only; run with /usr/bin/python3.
"""

import argparse
import concurrent.futures
import difflib
import glob
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CASEDIR = os.path.join(HERE, "cases")
WORKDIR = os.path.join(HERE, ".work", "cases")
FAKESMTP = os.path.join(HERE, "fakesmtp.py")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
    else sys.executable

DEFAULT_TIMEOUT = 20.0          # seconds for the binary; then "HANG"
SERVER_TIMEOUT = 30.0           # fakesmtp's own overall bound

# Sections whose text is taken byte for byte (blank lines included).
RAW = {"stdin", "stdin-crlf", "stdin-escaped", "stdin-py", "data",
       "data-escaped", "data-py", "file", "file-escaped", "server", "desc",
       "args-py"}
KNOWN = RAW | {"args", "client", "data-re", "exit", "stderr", "stdout",
               "deadletter", "timeout", "expect-markers", "connections",
               "env", "size", "file-mode", "transcript", "stdout-json",
               "files", "close-fds", "signal"}

# Never acceptable on stderr, whatever the case says.
SANITIZER = re.compile(r"AddressSanitizer|LeakSanitizer|runtime error:|"
                       r"==\d+==\s*ERROR")


class CaseError(Exception):
    pass


def unescape(text):
    """\\r \\n \\t \\0 \\\\ \\xHH in a str -> bytes (utf-8 otherwise)."""
    raw = text.encode("utf-8", "surrogateescape")
    out = bytearray()
    i = 0
    simple = {ord("r"): b"\r", ord("n"): b"\n", ord("t"): b"\t",
              ord("0"): b"\0", ord("\\"): b"\\"}
    while i < len(raw):
        if raw[i] == 0x5C and i + 1 < len(raw):
            n = raw[i + 1]
            if n in simple:
                out += simple[n]
                i += 2
                continue
            if n == ord("x") and re.fullmatch(rb"[0-9A-Fa-f]{2}",
                                              raw[i + 2:i + 4]):
                out.append(int(raw[i + 2:i + 4], 16))
                i += 4
                continue
        out.append(raw[i])
        i += 1
    return bytes(out)


def parse_case(path):
    """-> dict name -> list of (section-arg, [lines])."""
    sections = {}
    cur = None
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for no, line in enumerate(text.split("\n"), 1):
        m = re.match(r"^--- ([a-z-]+)(?: +(.*?))?\s*$", line)
        if m:
            name = m.group(1)
            if name not in KNOWN:
                raise CaseError("%s:%d: unknown section %r"
                                % (path, no, name))
            cur = [m.group(2) or "", []]
            sections.setdefault(name, []).append(cur)
            continue
        if cur is None:
            if line.strip() and not line.startswith("#"):
                raise CaseError("%s:%d: text before the first section"
                                % (path, no))
            continue
        cur[1].append(line)
    # The file's final newline does not start another (empty) line.
    if cur is not None and cur[1] and cur[1][-1] == "" \
            and text.endswith("\n"):
        cur[1].pop()
    return sections


def one(sections, name):
    s = sections.get(name)
    if not s:
        return None
    if len(s) > 1 and name not in ("file", "file-escaped"):
        raise CaseError("section %r given twice" % name)
    return s[0]


def lines_of(sections, name):
    """Non-blank lines of a non-raw section (None if absent)."""
    s = one(sections, name)
    if s is None:
        return None
    return [ln for ln in s[1] if ln.strip()]


def raw_bytes(kind, lines):
    """Bytes of a raw section in one of its spellings."""
    if kind.endswith("-escaped"):
        return unescape("".join(lines))
    if kind.endswith("-py"):
        v = eval(" ".join(lines), {"__builtins__": __builtins__})
        return v.encode("utf-8") if isinstance(v, str) else bytes(v)
    if kind.endswith("-crlf"):
        return b"".join(ln.encode("utf-8") + b"\r\n" for ln in lines)
    if kind == "data":
        return b"".join(ln.encode("utf-8") + b"\r\n" for ln in lines)
    return b"".join(ln.encode("utf-8") + b"\n" for ln in lines)


def pick(sections, base, kinds):
    found = [(k, one(sections, k)) for k in kinds if one(sections, k)]
    if len(found) > 1:
        raise CaseError("give only one of %s" % ", ".join(kinds))
    if not found:
        return None
    k, s = found[0]
    return raw_bytes(k, s[1])


def free_port():
    """A port nothing listens on (bound, then closed): connection refused."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return str(port)


def unstuffed_size(data):
    """Octets before dot-stuffing (what SIZE= must say)."""
    n = len(data)
    if data.startswith(b".."):
        n -= 1
    return n - data.count(b"\r\n..")


def match_client(expected, actual):
    """expected lines: exact, '? line' optional, '~ regex' fullmatch
    ('?~ regex' both).  Returns True when the lists agree."""
    memo = {}

    def ok(e, line):
        opt = e.startswith("?")
        if opt:
            e = e[1:].lstrip(" ") if not e.startswith("?~") else e[1:]
        if e.startswith("~ "):
            return re.fullmatch(e[2:], line) is not None
        return e == line

    def go(i, j):
        key = (i, j)
        if key in memo:
            return memo[key]
        if i == len(expected):
            r = j == len(actual)
        else:
            e = expected[i]
            r = False
            if j < len(actual) and ok(e, actual[j]):
                r = go(i + 1, j + 1)
            if not r and e.startswith("?"):
                r = go(i + 1, j)
        memo[key] = r
        return r
    return go(0, 0)


def regex_checks(what, patterns, text, subst):
    """Each pattern must match (re.search, MULTILINE); '!pat' must not.
    Returns a list of problems."""
    bad = []
    for p in patterns:
        neg = p.startswith("!")
        pat = p[1:] if neg else p
        if pat.startswith("\\!"):
            pat = pat[1:]
        for k, v in subst.items():
            pat = pat.replace(k, re.escape(v))
        try:
            found = re.search(pat, text, re.M) is not None
        except re.error as e:
            bad.append("%s: bad regex %r: %s" % (what, p, e))
            continue
        if neg and found:
            bad.append("%s: must not match: %s" % (what, pat))
        elif not neg and not found:
            bad.append("%s: no match for: %s" % (what, pat))
    return bad


def json_checks(exprs, text, subst):
    """stdout-json: every non-empty stdout line is one JSON object; each
    expression (Python, with j = the list of objects, re available) must
    be true.  Returns a list of problems."""
    j = []
    for no, ln in enumerate(text.splitlines(), 1):
        if not ln.strip():
            continue
        try:
            j.append(json.loads(ln))
        except ValueError as e:
            return ["stdout-json: line %d is not JSON (%s): %s"
                    % (no, e, ln[:200])]
    bad = []
    for e in exprs:
        e = e.strip()
        for k, v in subst.items():
            e = e.replace(k, v)
        try:
            ok = eval(e, {"__builtins__": __builtins__, "re": re},
                      {"j": j})
        except Exception as ex:  # a failed lookup is a failed check
            ok = False
            e += "  (%s: %s)" % (type(ex).__name__, ex)
        if not ok:
            bad.append("stdout-json: false: %s" % e)
    if bad:
        bad.append("stdout was: %s" % text.strip()[:800])
    return bad


def file_checks(lines, home, tmp, subst):
    """files: "GLOB N" (exactly N paths match) or "GLOB =~ REGEX" (at
    least one path matches and each one's content matches REGEX,
    re.search MULTILINE).  GLOB is relative to %TMP%, or to %HOME% with
    a leading ~/; "!" in REGEX position negates ("GLOB !~ REGEX")."""
    bad = []
    for ln in lines:
        m = re.fullmatch(r"\s*(\S+)\s+(?:(\d+)|([=!])~\s+(.*?))\s*", ln)
        if not m:
            raise CaseError("--- files: 'GLOB N' or 'GLOB =~ REGEX' per "
                            "line: %r" % ln)
        pat = m.group(1)
        for k, v in subst.items():
            pat = pat.replace(k, v)
        if pat.startswith("~/"):
            pat = os.path.join(home, pat[2:])
        elif not pat.startswith("/"):
            pat = os.path.join(tmp, pat)
        got = sorted(glob.glob(pat))
        if m.group(2) is not None:
            if len(got) != int(m.group(2)):
                bad.append("files: %s: expected %s, found %d%s"
                           % (m.group(1), m.group(2), len(got),
                              (": " + ", ".join(os.path.basename(g)
                                                for g in got[:5]))
                              if got else ""))
            continue
        if not got:
            bad.append("files: %s: no such file" % m.group(1))
            continue
        for g in got:
            try:
                with open(g, "rb") as f:
                    content = f.read().decode("utf-8", "surrogateescape")
            except OSError as e:
                bad.append("files: %s: %s" % (g, e))
                continue
            pr = regex_checks("files " + os.path.basename(g),
                              [("!" if m.group(3) == "!" else "") +
                               m.group(4)], content, subst)
            bad += pr
    return bad


def show(b, limit=600):
    s = repr(b)
    return s if len(s) <= limit else s[:limit] + "...(%d bytes)" % len(b)


# ---- certificates ---------------------------------------------------------

# name: (subject CN, subjectAltName or None, signer, dates, extensions)
# signer "self" is self-signed; dates None = now for 10 days, else
# (start, end) for "openssl ca" (YYYYMMDDHHMMSSZ).
CERTS = [
    ("ca", "smtpsend test CA", None, "self", None, "ca"),
    ("otherca", "smtpsend untrusted CA", None, "self", None, "ca"),
    ("valid", "localhost", "DNS:localhost,IP:127.0.0.1", "ca", None,
     "server"),
    ("expired", "localhost", "DNS:localhost,IP:127.0.0.1", "ca",
     ("20200101000000Z", "20210101000000Z"), "server"),
    ("notyet", "localhost", "DNS:localhost,IP:127.0.0.1", "ca",
     ("20900101000000Z", "20910101000000Z"), "server"),
    ("wronghost", "other.example", "DNS:other.example", "ca", None,
     "server"),
    ("selfsigned", "localhost", "DNS:localhost,IP:127.0.0.1", "self", None,
     "server"),
    ("unknownca", "localhost", "DNS:localhost,IP:127.0.0.1", "otherca",
     None, "server"),
    # an IP address as a DNS name and as the CN: never matches an IP
    # literal (the address must be an iPAddress SAN)
    ("ipasdns", "127.0.0.1", "DNS:127.0.0.1", "ca", None, "server"),
    # a subject of 5 x 64-octet OUs (about 380 octets as text): shown
    # cut with "...", never silently (issue 9)
    ("longsubject", "localhost" + "".join(
        "/OU=unit %d %s" % (i, "x" * 57) for i in range(1, 6)),
     "DNS:localhost,IP:127.0.0.1", "ca", None, "server"),
    # an IDN host: certificates carry the A-label (RFC 5890 2.3.2.1);
    # xn--bcher-kva is "bücher"
    ("idn", "xn--bcher-kva.example", "DNS:xn--bcher-kva.example", "ca",
     None, "server"),
    ("client", "client.test", None, "ca", None, "client"),
    ("otherclient", "client.test", None, "otherca", None, "client"),
]

EXTS = """
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

CA_CONF = """
[ca]
default_ca = test
[test]
dir = %(dir)s
database = %(dir)s/index-%(signer)s.txt
new_certs_dir = %(dir)s/newcerts
serial = %(dir)s/serial-%(signer)s
certificate = %(dir)s/%(signer)s.pem
private_key = %(dir)s/%(signer)s.key
default_md = sha256
policy = anything
unique_subject = no
email_in_dn = no
preserve = yes
[anything]
commonName = supplied
organizationName = optional
organizationalUnitName = optional
"""


def openssl(*args):
    r = subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args),
                                               r.stdout.decode()[-800:]))
    return r.stdout


def make_certs(top):
    """Generate the test PKI into a fresh directory under `top`, once per
    run; tests/.work/certs points at the latest.  Returns (dir, subst)."""
    os.makedirs(top, exist_ok=True)
    # clean up after runs that are gone
    for old in glob.glob(os.path.join(top, "certs.*")):
        try:
            os.kill(int(old.rsplit(".", 1)[1]), 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(old, ignore_errors=True)
        except PermissionError:
            pass
    d = os.path.join(top, "certs.%d" % os.getpid())
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "newcerts"))
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write(EXTS)
    subst = {"%CERTS%": d, "%CA%": os.path.join(d, "ca.pem")}
    for name, cn, san, signer, dates, kind in CERTS:
        key = os.path.join(d, name + ".key")
        pem = os.path.join(d, name + ".pem")
        subj = "/O=smtpsend tests/CN=%s" % cn
        if san:
            with open(ext, "a") as f:
                f.write("\n[%s_ext]\n%s\nsubjectAltName = %s\n"
                        % (name, EXTS.split("[%s]" % kind)[1]
                           .split("[")[0].strip(), san))
            section = name + "_ext"
        else:
            section = kind
        if signer == "self":
            openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                    "-out", pem, "-subj", subj, "-days", "3650",
                    "-config", ext, "-extensions", section)
        else:
            csr = os.path.join(d, name + ".csr")
            openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                    "-out", csr, "-subj", subj, "-config", ext)
            conf = os.path.join(d, "ca-%s.cnf" % signer)
            if not os.path.exists(conf):
                with open(conf, "w") as f:
                    f.write(CA_CONF % {"dir": d, "signer": signer})
                open(os.path.join(d, "index-%s.txt" % signer), "w").close()
                with open(os.path.join(d, "serial-%s" % signer), "w") as f:
                    f.write("%s\n" % ("1000" if signer == "ca" else "2000"))
            start, end = dates or (
                time.strftime("%Y%m%d%H%M%SZ", time.gmtime(time.time() - 3600)),
                time.strftime("%Y%m%d%H%M%SZ",
                              time.gmtime(time.time() + 10 * 86400)))
            openssl("ca", "-batch", "-config", conf, "-in", csr, "-out", pem,
                    "-notext", "-startdate", start, "-enddate", end,
                    "-extfile", ext, "-extensions", section)
        os.chmod(key, 0o600)
        with open(pem) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        hx = hashlib.sha256(der).hexdigest()
        colon = ":".join(hx[i:i + 2] for i in range(0, 64, 2)).upper()
        up = name.upper()
        subst["%FP_" + up + "%"] = "SHA256:" + colon
        subst["%FPCOLON_" + up + "%"] = colon
        subst["%FPHEX_" + up + "%"] = hx
    # a bundle: the client certificate and its key in one file
    with open(os.path.join(d, "clientbundle.pem"), "w") as f:
        for n in ("client.pem", "client.key"):
            with open(os.path.join(d, n)) as g:
                f.write(g.read())
    link = os.path.join(top, "certs")
    tmpl = link + ".lnk%d" % os.getpid()
    try:
        os.symlink(os.path.basename(d), tmpl)
        if os.path.isdir(link) and not os.path.islink(link):
            shutil.rmtree(link)
        os.replace(tmpl, link)
    except OSError:
        pass
    return d, subst


def data_diff(exp, got):
    el = [repr(x) for x in exp.splitlines(keepends=True)]
    gl = [repr(x) for x in got.splitlines(keepends=True)]
    d = list(difflib.unified_diff(el, gl, "expected data", "received data",
                                  lineterm="", n=2))
    if len(d) > 40:
        d = d[:40] + ["... (%d more diff lines)" % (len(d) - 40)]
    return d


class Runner:
    def __init__(self, opts, certdir=None, certsubst=None):
        self.opts = opts
        self.lock = threading.Lock()
        self.certdir = certdir
        self.certsubst = certsubst or {}

    def log(self, text):
        with self.lock:
            print(text, flush=True)

    def start_server(self, script, work):
        spath = os.path.join(work, "server.script")
        with open(spath, "w", encoding="utf-8") as f:
            f.write(script)
        rpath = os.path.join(work, "server.json")
        cmd = [PYTHON, FAKESMTP, spath, "--record", rpath,
               "--timeout", str(SERVER_TIMEOUT)]
        if self.certdir:
            cmd += ["--certs", self.certdir]
        p = subprocess.Popen(cmd,
                             stdout=subprocess.PIPE,
                             stderr=open(os.path.join(work, "server.err"),
                                         "wb"),
                             stdin=subprocess.DEVNULL)
        line = p.stdout.readline().decode()
        m = re.match(r"PORT (\d+)", line)
        if not m:
            p.kill()
            p.wait()
            err = open(os.path.join(work, "server.err")).read()
            raise CaseError("fakesmtp did not start: %s" % err.strip())
        return p, m.group(1), rpath

    def stop_server(self, p):
        """The client is gone: tell the server, give it time to finish
        recording, then make sure it is gone."""
        try:
            p.send_signal(signal.SIGUSR1)
        except ProcessLookupError:
            pass
        for sig, wait in ((None, 12.0), (signal.SIGTERM, 3.0),
                          (signal.SIGKILL, 3.0)):
            if sig is not None:
                try:
                    p.send_signal(sig)
                except ProcessLookupError:
                    pass
            try:
                p.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        p.stdout.close()

    def write_files(self, sec, subst, home, tmp, csub):
        """The file sections (subdirectories made as needed; %PORT%
        %FREEPORT% %HOME% %TMP% substituted in bodies), then file-mode."""
        def fsub(b):
            """%PORT% %FREEPORT% %HOME% %TMP% in file bodies"""
            for k in ("%PORT%", "%FREEPORT%", "%HOME%", "%TMP%"):
                b = b.replace(k.encode(), subst[k].encode())
            return b

        for kind in ("file", "file-escaped"):
            for fname, lines in sec.get(kind, []):
                base = home if fname.startswith("~/") else tmp
                fname = fname[2:] if fname.startswith("~/") else fname
                if not fname or fname.startswith("/") or \
                        ".." in fname.split("/"):
                    raise CaseError("--- %s needs a relative file name"
                                    % kind)
                fpath = os.path.join(base, fname)
                os.makedirs(os.path.dirname(fpath), exist_ok=True)
                with open(fpath, "wb") as f:
                    f.write(fsub(csub(raw_bytes(kind, lines))))
        for ln in lines_of(sec, "file-mode") or []:
            m = re.fullmatch(r"\s*(\S+)\s+([0-7]{3,4})\s*", ln)
            if not m:
                raise CaseError("--- file-mode: NAME OCTAL-MODE per line")
            fname = m.group(1)
            base = home if fname.startswith("~/") else tmp
            fname = fname[2:] if fname.startswith("~/") else fname
            try:
                os.chmod(os.path.join(base, fname), int(m.group(2), 8))
            except OSError as e:
                raise CaseError("--- file-mode: %s" % e)

    def run_case(self, path):
        name = os.path.basename(path)[:-5]
        problems = []
        info = {}
        try:
            problems = self._run(path, name, info)
        except CaseError as e:
            problems = ["case error: %s" % e]
        except Exception as e:  # a bug in the runner, not in the binary
            problems = ["runner error: %r" % e]
        return name, problems, info

    def _run(self, path, name, info):
        sec = parse_case(path)
        work = os.path.join(WORKDIR, name)
        shutil.rmtree(work, ignore_errors=True)
        home = os.path.join(work, "home")
        tmp = os.path.join(work, "tmp")
        os.makedirs(home)
        os.makedirs(tmp)
        subst = {"%HOME%": home, "%TMP%": tmp, "%FREEPORT%": free_port()}
        subst.update(self.certsubst)

        def csub(b):
            """certificate names in file bodies and server scripts"""
            for k, v in self.certsubst.items():
                b = b.replace(k.encode(), v.encode())
            return b

        server = one(sec, "server")
        srv = None
        if server is not None:
            script = csub(("\n".join(server[1]) + "\n").encode())
            srv, port, rpath = self.start_server(script.decode(), work)
            subst["%PORT%"] = port
        else:
            subst["%PORT%"] = "9"       # discard: nothing listens there

        try:
            self.write_files(sec, subst, home, tmp, csub)
        except Exception:
            if srv:
                self.stop_server(srv)
            raise

        def sub(s):
            for k, v in subst.items():
                s = s.replace(k, v)
            return s

        args = []
        for ln in lines_of(sec, "args") or []:
            ln = ln.strip()
            if ln == "%EMPTY%":
                args.append(b"")
            else:
                args.append(unescape(sub(ln)))
        apy = one(sec, "args-py")
        if apy is not None:
            args += [a if isinstance(a, bytes) else a.encode()
                     for a in eval("\n".join(apy[1]))]
        argv = [self.opts.bin.encode()] + args
        if self.opts.wrap:
            argv = [w.encode() for w in shlex.split(self.opts.wrap)] + argv

        env = {"HOME": home, "TMPDIR": tmp, "LC_ALL": "C",
               "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for k in ("LD_LIBRARY_PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                  "LSAN_OPTIONS", "VALGRIND_OPTS"):
            if k in os.environ:
                env[k] = os.environ[k]
        for ln in lines_of(sec, "env") or []:
            k, _, v = ln.partition("=")
            env[k.strip()] = sub(v)

        stdin = pick(sec, "stdin", ["stdin", "stdin-crlf", "stdin-escaped",
                                    "stdin-py"])
        tsec = lines_of(sec, "timeout")
        limit = float(tsec[0]) if tsec else DEFAULT_TIMEOUT
        limit *= self.opts.timeout_scale

        closefds = [int(x) for ln in lines_of(sec, "close-fds") or []
                    for x in ln.split()]

        def child_setup():
            for fd in closefds:
                os.close(fd)

        t0 = time.monotonic()
        hang = False
        try:
            p = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=env, cwd=tmp,
                                 start_new_session=True,
                                 preexec_fn=child_setup if closefds
                                 else None)
        except OSError as e:
            if srv:
                self.stop_server(srv)
            raise CaseError("cannot run %s: %s" % (self.opts.bin, e))
        timers = []
        for ln in lines_of(sec, "signal") or []:
            name, secs = ln.split()
            t = threading.Timer(float(secs) * self.opts.timeout_scale,
                                lambda n=name: p.poll() is None and
                                p.send_signal(getattr(signal, "SIG" + n)))
            t.start()
            timers.append(t)
        try:
            out, err = p.communicate(stdin or b"", timeout=limit)
        except subprocess.TimeoutExpired:
            hang = True
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, err = p.communicate()
        for t in timers:
            t.cancel()
        info["elapsed"] = time.monotonic() - t0
        rc = p.returncode
        rec = {"lines": [], "data": [], "markers": [], "connections": 0,
               "transcript": []}
        if srv:
            self.stop_server(srv)
            try:
                with open(rpath) as f:
                    rec = json.load(f)
            except (OSError, ValueError) as e:
                raise CaseError("no server record: %s" % e)
        errs = err.decode("utf-8", "replace")
        outs = out.decode("utf-8", "replace")
        info.update(rc=rc, stderr=errs, stdout=outs,
                    transcript=rec.get("transcript", []))
        with open(os.path.join(work, "stderr"), "wb") as f:
            f.write(err)

        problems = []
        if hang:
            problems.append("HANG: still running after %gs, killed" % limit)
        # exit code
        exp_exit = lines_of(sec, "exit")
        if exp_exit is None:
            raise CaseError("no --- exit section")
        exp_rc = int(exp_exit[0])
        if not hang and rc != exp_rc:
            if rc < 0:
                problems.append("exit: expected %d, got signal %d"
                                % (exp_rc, -rc))
            else:
                problems.append("exit: expected %d, got %d" % (exp_rc, rc))
        # message data
        exp_data = pick(sec, "data", ["data", "data-escaped", "data-py"])
        got_data = b"".join(d.encode("latin-1") for d in rec["data"])
        if exp_data is not None and exp_data != got_data:
            problems.append("data differs (expected %d bytes, got %d)"
                            % (len(exp_data), len(got_data)))
            problems += ["  " + d for d in data_diff(exp_data, got_data)]
        dre = lines_of(sec, "data-re")
        if dre is not None:
            if not rec["data"]:
                problems.append("data-re: no message data received")
            else:
                problems += regex_checks(
                    "data-re", dre,
                    got_data.decode("utf-8", "surrogateescape"), {})
        # client lines
        exp_client = lines_of(sec, "client")
        got_lines = [ln.encode("latin-1").decode("utf-8", "surrogateescape")
                     for ln in rec["lines"]]
        if exp_client is not None:
            size = lines_of(sec, "size")
            if size:
                n = size[0].strip()
            elif exp_data is not None:
                n = str(unstuffed_size(exp_data))
            else:
                n = "%SIZE%"
            exp_client = [ln.replace("%SIZE%", n) for ln in exp_client]
            exp_client = [ln.rstrip() for ln in exp_client]
            if not match_client(exp_client, got_lines):
                problems.append("client lines differ")
                d = difflib.unified_diff(exp_client, got_lines, "expected",
                                         "received", lineterm="", n=9)
                problems += ["  " + x for x in d]
        exp_conn = lines_of(sec, "connections")
        if exp_conn is not None and int(exp_conn[0]) != rec["connections"]:
            problems.append("connections: expected %s, got %d"
                            % (exp_conn[0], rec["connections"]))
        # markers of the fake server
        allowed = lines_of(sec, "expect-markers") or []
        markers = rec["markers"]
        pats = [a[1:].strip() if a.startswith("?") else a for a in allowed]
        for m in markers:
            if not any(re.search(a, m) for a in pats):
                problems.append("server: %s" % m)
        for a in allowed:
            if a.startswith("?"):
                continue
            if not any(re.search(a, m) for m in markers):
                problems.append("server: expected marker %r not seen" % a)
        # the server's transcript ("WHO TEXT" per event: C client line,
        # S server bytes, D data, ! marker, # note such as "TLS ...")
        tre = lines_of(sec, "transcript")
        if tre is not None:
            ttext = "\n".join("%s %s" % (who, what.rstrip("\r\n"))
                              for _, who, what in rec.get("transcript", []))
            problems += regex_checks("transcript", tre, ttext, subst)
        # stderr / stdout
        if SANITIZER.search(errs):
            problems.append("sanitizer report on stderr")
        problems += regex_checks("stderr", lines_of(sec, "stderr") or [],
                                 errs, subst)
        verbose = bool({b"-v", b"--verbose"} & set(args))
        # Errors are lines "smtpsend: ..." (usage text after a usage
        # error, and the -v transcript, are exempt).
        if not verbose and exp_rc != 64:
            for ln in errs.splitlines():
                if ln.strip() and not ln.startswith("smtpsend: "):
                    problems.append("stderr line without 'smtpsend: ': %s"
                                    % ln[:200])
                    break
        if exp_rc == 0 and lines_of(sec, "stderr") is None and \
                not verbose and errs.strip():
            problems.append("stderr not empty on success: %s"
                            % errs.strip()[:300])
        so = lines_of(sec, "stdout")
        sj = lines_of(sec, "stdout-json")
        if so is None:
            if out and sj is None:
                problems.append("stdout not empty: %s" % show(out, 200))
        else:
            problems += regex_checks("stdout", so, outs, subst)
        if sj is not None:
            problems += json_checks(sj, outs, subst)
        problems += file_checks(lines_of(sec, "files") or [], home, tmp,
                                subst)
        # dead.letter
        dl = lines_of(sec, "deadletter")
        dpath = os.path.join(home, "dead.letter")
        exists = os.path.exists(dpath)
        if dl is None:
            if exp_rc == 0 and exists:
                problems.append("dead.letter written on success")
        elif [x.strip() for x in dl] == ["absent"]:
            if exists:
                problems.append("dead.letter written (expected absent)")
        elif not exists:
            problems.append("dead.letter missing")
        else:
            with open(dpath, "rb") as f:
                content = f.read().decode("utf-8", "surrogateescape")
            problems += regex_checks("deadletter", dl, content, subst)
        if problems and not hang:
            if rc != exp_rc or any(p.startswith("stderr") for p in problems):
                problems.append("stderr was: %s" % (errs.strip()[:800]
                                                    or "(empty)"))
        return problems

    def report(self, name, problems, info):
        ok = not problems
        if ok and not self.opts.verbose:
            return
        el = info.get("elapsed")
        head = "%s %s%s" % ("ok  " if ok else "FAIL", name,
                            " (%.1fs)" % el if el is not None else "")
        lines = [head + ("" if ok else ": " + problems[0])]
        lines += ["    " + p for p in problems[1:]]
        if self.opts.verbose and not ok:
            for t, who, what in info.get("transcript", [])[:60]:
                lines.append("    | %6.3f %s %s" % (t, who, what.rstrip()
                                                     [:160]))
        self.log("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cases", nargs="*", help="case names or files")
    ap.add_argument("--bin", default=None,
                    help="binary to test (default ./smtpsend)")
    ap.add_argument("-j", type=int, default=2, help="parallel cases")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="list passing cases too; transcripts on failure")
    ap.add_argument("--wrap", default="",
                    help="command prefix, e.g. 'valgrind -q "
                    "--error-exitcode=99'")
    ap.add_argument("--timeout-scale", type=float, default=1.0,
                    help="multiply case time limits (slow wrappers)")
    opts = ap.parse_args()

    if opts.bin is None:
        opts.bin = "./smtpsend"
        if not os.path.exists(opts.bin):
            opts.bin = os.path.join(ROOT, "smtpsend")
    opts.bin = os.path.abspath(opts.bin)

    paths = []
    for c in opts.cases or [os.path.join(CASEDIR, "*.case")]:
        if os.path.exists(c):
            paths.append(c)
            continue
        g = sorted(glob.glob(c)) or sorted(glob.glob(
            os.path.join(CASEDIR, c if c.endswith(".case") else c + ".case")))
        if not g:
            print("run_cases: no such case: %s" % c, file=sys.stderr)
            sys.exit(2)
        paths += g
    paths = sorted(set(paths), key=lambda p: os.path.basename(p))

    certdir = certsubst = None
    try:
        certdir, certsubst = make_certs(os.path.dirname(WORKDIR))
    except (OSError, RuntimeError) as e:
        # the cases that need certificates fail; say why once
        print("run_cases: no test certificates: %s" % e, flush=True)
    runner = Runner(opts, certdir, certsubst)
    passed = failed = 0
    if not os.path.exists(opts.bin):
        print("run_cases: %s: not found (run make)" % opts.bin)
    with concurrent.futures.ThreadPoolExecutor(max(1, opts.j)) as ex:
        futs = [ex.submit(runner.run_case, p) for p in paths]
        for fut in concurrent.futures.as_completed(futs):
            name, problems, info = fut.result()
            runner.report(name, problems, info)
            if problems:
                failed += 1
            else:
                passed += 1
    print("SUITE cases: %d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
