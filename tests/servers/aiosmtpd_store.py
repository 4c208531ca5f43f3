#!/usr/bin/python3
"""tests/servers/aiosmtpd_store.py - python3-aiosmtpd on 127.0.0.1 that
stores every accepted message byte for byte as it came off the wire (after
dot-unstuffing, CRLF kept) in DIR/mail/NNNN.eml, with its envelope in
DIR/mail/NNNN.env (first line MAIL FROM address, then one recipient a line).

RCPT TO a local part starting with "reject" gets 550 5.1.1, "tempfail" gets
451 4.3.0; everything else is accepted.  Run with Debian's /usr/bin/python3
(the package's module is on no other interpreter's path).

    aiosmtpd_store.py DIR PORT
"""
import asyncio
import os
import signal
import sys

from aiosmtpd.smtp import SMTP


class Store:
    def __init__(self, maildir):
        self.maildir = maildir
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("reject"):
            return "550 5.1.1 <%s>: Recipient address rejected" % address
        if local.startswith("tempfail"):
            return "451 4.3.0 <%s>: Try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.maildir, "%04d" % self.count)
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".envtmp", "w") as f:
            f.write(envelope.mail_from + "\n")
            for r in envelope.rcpt_tos:
                f.write(r + "\n")
        # The .eml appears only when complete: a reader never sees half.
        os.rename(base + ".envtmp", base + ".env")
        os.rename(base + ".tmp", base + ".eml")
        return "250 2.0.0 Ok: stored as %04d" % self.count


def main():
    workdir, port = sys.argv[1], int(sys.argv[2])
    maildir = os.path.join(workdir, "mail")
    os.makedirs(maildir, exist_ok=True)
    handler = Store(maildir)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    factory = lambda: SMTP(handler, hostname="aiosmtpd.test",
                           data_size_limit=64 * 1024 * 1024,
                           enable_SMTPUTF8=True)
    server = loop.run_until_complete(
        loop.create_server(factory, host="127.0.0.1", port=port))
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.run_until_complete(stop.wait())
    server.close()
    loop.run_until_complete(server.wait_closed())
    loop.close()


if __name__ == "__main__":
    main()
