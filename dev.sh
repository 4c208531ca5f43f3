#!/bin/sh
# dev.sh - set up a Debian 12 machine for smtpsend and run a make target.
#
#   ./dev.sh demo     install what is missing, then "make demo"
#   ./dev.sh check    install what is missing, then "make check"
#   ./dev.sh deps     only install what is missing
#
# Works on a bare Debian 12 (no compiler, no make).  As root it installs the
# missing packages with apt-get; otherwise it prints the apt-get line to run
# and exits 1.  OpenSMTPD conflicts with postfix as a package, so its .deb
# is only unpacked, into tests/.cache/opensmtpd (gitignored).
set -u
cd "$(dirname "$0")" || exit 1

# What the demo needs: the build (make gcc libc6-dev pkg-config libssl-dev
# libidn2-dev), Postfix (its smtpd and smtp-sink are the demo's server),
# python3 and procps (the server recipes' free port and process checks).
DEMO_PKGS="make gcc libc6-dev pkg-config libssl-dev libidn2-dev postfix
python3 procps"
# What the tests add: openssl (certificates), python3-aiosmtpd (fake and
# real servers), mandoc (man page lint), valgrind, strace (tests/
# run_tls_extra.py delays a write to catch a race) and mount (unshare/mount
# for OpenSMTPD's private spool).  Runtime libraries of the unpacked
# OpenSMTPD 6.8 (ldd): libevent-2.1-7, libdb5.3 (the rest - libssl3,
# zlib1g, libcrypt1, libpam0g - are in base).  Real callers of sendmail
# (tests/run_callers.py): bsd-mailx (mail -s), git + git-email (git
# send-email; it dies without libmailtools-perl's Mail::Address, only a
# Recommends), php-cli (PHP's mail()).  TLS/AUTH real-server tests
# (tests/run_real_tls.py): sasl2-bin (saslpasswd2), libsasl2-modules
# (PLAIN LOGIN CRAM-MD5 SCRAM plugins) and libsasl2-modules-db (sasldb)
# for Postfix's Cyrus SASL; the runtime libraries of the unpacked Exim
# 4.96 (its Depends): libgnutls30, libgnutls-dane0, libidn12, libnsl2,
# libpcre2-8-0 (and libdb5.3 above).
TEST_PKGS="openssl python3-aiosmtpd mandoc valgrind strace mount
libevent-2.1-7 libdb5.3 bsd-mailx git git-email libmailtools-perl php-cli
sasl2-bin libsasl2-modules libsasl2-modules-db libgnutls30 libgnutls-dane0
libidn12 libnsl2 libpcre2-8-0"

target=${1:-}
case $target in
demo|check|deps) ;;
*) echo "usage: ./dev.sh demo|check|deps" >&2; exit 64 ;;
esac

case $target in
demo) PKGS=$DEMO_PKGS ;;
*) PKGS="$DEMO_PKGS $TEST_PKGS" ;;
esac

missing=
for p in $PKGS; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)
	[ "$st" = installed ] || missing="$missing $p"
done
need_osmtpd=no
[ "$target" != demo ] && [ ! -x tests/.cache/opensmtpd/usr/sbin/smtpd ] &&
    need_osmtpd=yes

if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "dev.sh: missing Debian packages:$missing" >&2
		echo "dev.sh: as root, run:" >&2
		echo "  echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections" >&2
		echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$missing" >&2
		exit 1
	fi
	n=$(echo $missing | wc -w)
	echo "dev.sh: installing $n Debian packages for '$target' (log: /tmp/dev.sh-apt.log)..."
	# Postfix must not ask questions or configure a system MTA.
	echo 'postfix postfix/main_mailer_type select No configuration' |
	    debconf-set-selections || exit 1
	if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get \
	    install -y --no-install-recommends $missing; } \
	    </dev/null >/tmp/dev.sh-apt.log 2>&1; then
		tail -n 20 /tmp/dev.sh-apt.log >&2
		echo "dev.sh: apt-get failed (full log: /tmp/dev.sh-apt.log)" >&2
		exit 1
	fi
	echo "dev.sh: installed:$missing"
elif [ $need_osmtpd = yes ] && [ "$(id -u)" = 0 ]; then
	apt-get update || exit 1   # apt-get download needs package lists
fi

if [ $need_osmtpd = yes ]; then
	echo "dev.sh: unpacking OpenSMTPD into tests/.cache/opensmtpd"
	sh tests/servers/opensmtpd.sh fetch || exit 1
fi
if [ "$target" != demo ] && [ ! -x tests/.cache/exim/usr/sbin/exim4 ]; then
	echo "dev.sh: unpacking Exim into tests/.cache/exim"
	sh tests/servers/exim.sh fetch || exit 1
fi

# With "No configuration" postfix starts no system daemon; the tests use
# their own instances on free ports anyway.  Say so if one is running.
if [ -f /var/spool/postfix/pid/master.pid ] &&
    kill -0 "$(tr -d ' ' </var/spool/postfix/pid/master.pid)" 2>/dev/null; then
	echo "dev.sh: note: a system Postfix is running (the tests do not use it)"
fi

[ "$target" = deps ] && exit 0
exec make "$target"
