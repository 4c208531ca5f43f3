#!/bin/sh
# tests/servers/aiosmtpd.sh - python3-aiosmtpd storing raw messages.
#
#   sh tests/servers/aiosmtpd.sh start DIR     writes DIR/port, DIR/pid
#   sh tests/servers/aiosmtpd.sh stop DIR
#
# Messages land in DIR/mail/NNNN.eml (exact wire bytes after dot-unstuffing,
# CRLF kept) with the envelope in NNNN.env; see aiosmtpd_store.py.
set -u
here=$(dirname "$0")
. "$here/common.sh"

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: aiosmtpd.sh start|stop DIR"

case $cmd in
start)
	"$PY" -c 'import aiosmtpd' 2>/dev/null ||
	    die "python3-aiosmtpd missing (apt-get install python3-aiosmtpd)"
	mkdir -p "$dir/mail" || exit 1
	tries=0
	while [ $tries -lt 5 ]; do
		port=$(free_port) || die "no free port"
		"$PY" "$here/aiosmtpd_store.py" "$dir" "$port" \
		    >"$dir/aiosmtpd.log" 2>&1 &
		pid=$!
		if wait_port "$port" 100 "$pid" && alive "$pid"; then
			echo "$port" >"$dir/port"
			echo "$pid" >"$dir/pid"
			exit 0
		fi
		stop_pid "$pid"
		tries=$((tries + 1))
	done
	echo "aiosmtpd did not start; log:" >&2
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
