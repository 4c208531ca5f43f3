#!/bin/sh
# tests/run_real.sh - smtpsend against real servers (aiosmtpd, Postfix
# smtp-sink and smtpd, OpenSMTPD) on 127.0.0.1; see tests/run_real.py.
# Honours SMTPSEND (default ./smtpsend).  Last line:
#   SUITE real: N passed, M failed
# Debian's /usr/bin/python3: python3-aiosmtpd is on no other interpreter's path.
exec /usr/bin/python3 "$(dirname "$0")/run_real.py" "$@"
