#!/usr/bin/python3
"""tests/servers/refclient.py - a reference SMTP client with smtpsend's
command line (the subset the real-server suite uses), built on smtplib.

It exists to check the harness itself, independent of the C code:
    SMTPSEND=tests/servers/refclient.py sh tests/run_real.sh
Exit codes follow SPEC.md (67 recipient 5xx, 69 other 5xx, 75 4xx/421/drop).
"""
import re
import smtplib
import sys


def wire(data):
    lines = re.split(rb"\r\n|\r|\n", data)
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join(l + b"\r\n" for l in lines)


def headers_recipients(msg):
    head = msg.split(b"\r\n\r\n", 1)[0]
    rcpts, keep, skip = [], [], False
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if not skip:
                keep.append(line)
            cur.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower()
        skip = name == b"bcc"
        cur = [line]
        if name in (b"to", b"cc", b"bcc"):
            rcpts.append(cur)
        if not skip:
            keep.append(line)
    addrs = []
    for parts in rcpts:
        value = b" ".join(parts).split(b":", 1)[1].decode()
        addrs += re.findall(r"[^\s<>,\"]+@[^\s<>,\"]+", value)
    body = msg.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in msg else b""
    return addrs, b"\r\n".join(keep) + b"\r\n\r\n" + body


def main():
    host, port, domain, sender, rcpts, t = "localhost", 25, "localhost", "", [], False
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a.startswith("--host="):
            host = a[7:]
        elif a.startswith("--port="):
            port = int(a[7:])
        elif a.startswith("--domain="):
            domain = a[9:]
        elif a.startswith("--tls=") or a in ("-v", "-i", "--allow-partial"):
            pass
        elif a == "-f":
            sender = args.pop(0)
        elif a == "-t":
            t = True
        elif a == "--":
            rcpts += args
            break
        elif a.startswith("-"):
            print("refclient: unknown option %s" % a, file=sys.stderr)
            return 64
        else:
            rcpts.append(a)
    msg = wire(sys.stdin.buffer.read())
    if t:
        extra, msg = headers_recipients(msg)
        rcpts += extra
    try:
        s = smtplib.SMTP(host, port, local_hostname=domain, timeout=60)
        s.ehlo_or_helo_if_needed()
        code, text = s.mail(sender)
        if code != 250:
            return 69 if code >= 500 else 75
        for r in rcpts:
            code, text = s.rcpt(r)
            if code not in (250, 251):
                print("refclient: RCPT TO:<%s> rejected: %d %s" % (r, code, text.decode()),
                      file=sys.stderr)
                s.rset()
                s.quit()
                return 67 if code >= 500 else 75
        code, text = s.data(msg)
        s.quit()
        if code != 250:
            print("refclient: end of data: %d %s" % (code, text.decode()), file=sys.stderr)
            return 69 if code >= 500 else 75
        return 0
    except smtplib.SMTPDataError as e:
        print("refclient: %s" % e, file=sys.stderr)
        return 69 if e.smtp_code >= 500 else 75
    except smtplib.SMTPResponseException as e:
        print("refclient: %s" % e, file=sys.stderr)
        return 69 if e.smtp_code >= 500 and e.smtp_code != 521 else 75
    except (OSError, smtplib.SMTPException) as e:
        print("refclient: %s (the message may have been delivered)" % e, file=sys.stderr)
        return 75


if __name__ == "__main__":
    sys.exit(main())
