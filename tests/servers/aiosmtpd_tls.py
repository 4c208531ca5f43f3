#!/usr/bin/python3
"""tests/servers/aiosmtpd_tls.py - python3-aiosmtpd with STARTTLS required
and AUTH required, storing messages like aiosmtpd_store.py (exact wire
bytes in DIR/mail/NNNN.eml, envelope in NNNN.env) plus NNNN.auth: the
mechanism and login that authenticated the session.

  aiosmtpd_tls.py DIR PORT IMPLICIT_PORT CERT KEY USER PASSWORD_FILE

PORT: plain connection; anything but EHLO/HELO/NOOP/QUIT/STARTTLS before
STARTTLS gets "530 Must issue a STARTTLS command first"; AUTH is offered only
after TLS; MAIL without AUTH gets "530 5.7.0 Authentication required".
IMPLICIT_PORT: the same server behind implicit TLS.  AUTH PLAIN and LOGIN
(aiosmtpd's LOGIN prompts end in a NUL byte: "334 VXNlciBOYW1lAA==").
Run with Debian's /usr/bin/python3.
"""
import asyncio
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aiosmtpd_store import Store  # noqa: E402


class AuthStore(Store):
    async def handle_DATA(self, server, session, envelope):
        base = os.path.join(self.maildir, "%04d" % (self.count + 1))
        with open(base + ".auth", "w") as f:
            f.write("%s %s\n" % (getattr(session, "smtpsend_mech", "-"),
                                 (session.login_data or b"-").decode("utf-8", "replace")))
        return await super().handle_DATA(server, session, envelope)


def main():
    workdir, port, iport, cert, key, user, pwfile = sys.argv[1:8]
    with open(pwfile, "rb") as f:
        password = f.read()
    maildir = os.path.join(workdir, "mail")
    os.makedirs(maildir, exist_ok=True)
    handler = AuthStore(maildir)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, data):
        ok = (isinstance(data, LoginPassword) and data.login == user.encode()
              and data.password == password)
        if ok:
            session.smtpsend_mech = mechanism
        return AuthResult(success=ok, handled=False, auth_data=data)

    def factory(implicit):
        return lambda: SMTP(handler, hostname="aiosmtpd-tls.test",
                            data_size_limit=64 * 1024 * 1024, enable_SMTPUTF8=True,
                            tls_context=None if implicit else ctx,
                            require_starttls=not implicit,
                            # aiosmtpd 1.4 does not see implicit TLS as TLS:
                            # there, AUTH must not wait for a STARTTLS.
                            auth_required=True, auth_require_tls=not implicit,
                            authenticator=authenticator)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    servers = [
        loop.run_until_complete(loop.create_server(
            factory(False), host="127.0.0.1", port=int(port))),
        loop.run_until_complete(loop.create_server(
            factory(True), host="127.0.0.1", port=int(iport), ssl=ctx)),
    ]
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.run_until_complete(stop.wait())
    for s in servers:
        s.close()
        loop.run_until_complete(s.wait_closed())
    loop.close()


if __name__ == "__main__":
    main()
