#!/bin/sh
# tests/servers/aiosmtpd-tls.sh - python3-aiosmtpd with STARTTLS required and
# AUTH required (see aiosmtpd_tls.py).
#
#   sh tests/servers/aiosmtpd-tls.sh start DIR [CERTDIR]
#                        writes DIR/port (STARTTLS required), DIR/port-implicit,
#                        DIR/pid, DIR/user, DIR/password
#   sh tests/servers/aiosmtpd-tls.sh stop DIR
#
# Messages land in DIR/mail/NNNN.eml (exact wire bytes, CRLF kept), the
# envelope in NNNN.env and "MECHANISM LOGIN" in NNNN.auth.  The certificate
# (CERTDIR/server.pem, server.key) comes from tlscerts.sh; without CERTDIR
# one is made in DIR/certs.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tlscommon.sh"

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: aiosmtpd-tls.sh start DIR [CERTDIR] | stop DIR"

case $cmd in
start)
	"$PY" -c 'import aiosmtpd' 2>/dev/null ||
	    die "python3-aiosmtpd missing (apt-get install python3-aiosmtpd)"
	mkdir -p "$dir/mail" || exit 1
	certs=${3:-}
	if [ -z "$certs" ]; then
		certs=$dir/certs
		sh "$here/tlscerts.sh" "$certs" || die "cannot make certificates"
	fi
	echo aiouser >"$dir/user"
	printf '%s' 'Aio-s3cret:pass word' >"$dir/password"
	tries=0
	while [ $tries -lt 5 ]; do
		port=$(free_port) || die "no free port"
		port2=$(free_port) || die "no free port"
		"$PY" "$here/aiosmtpd_tls.py" "$dir" "$port" "$port2" \
		    "$certs/server.pem" "$certs/server.key" aiouser "$dir/password" \
		    >"$dir/aiosmtpd.log" 2>&1 &
		pid=$!
		if wait_port "$port" 100 "$pid" &&
		    wait_tls_port "$port2" 50 "$certs/ca.pem" "$pid" && alive "$pid"; then
			echo "$port" >"$dir/port"
			echo "$port2" >"$dir/port-implicit"
			echo "$pid" >"$dir/pid"
			exit 0
		fi
		stop_pid "$pid"
		tries=$((tries + 1))
	done
	echo "aiosmtpd (TLS) did not start; log:" >&2
	cat "$dir/aiosmtpd.log" >&2
	exit 1
	;;
stop)
	[ -f "$dir/pid" ] && stop_pid "$(cat "$dir/pid")"
	rm -f "$dir/pid"
	exit 0
	;;
*)
	die "unknown command: $cmd"
	;;
esac
