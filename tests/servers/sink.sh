#!/bin/sh
# tests/servers/sink.sh - Postfix smtp-sink on 127.0.0.1, dumping each
# transaction to its own file under DIR/dump/.
#
#   sh tests/servers/sink.sh start DIR [SMTP-SINK-OPTION]...
#   sh tests/servers/sink.sh stop DIR
#
# start writes DIR/port and DIR/pid.  Extra options inject faults, e.g.
#   -r rcpt -b "451 4.3.0 try later"   -f rcpt -B "550 5.1.1 no such user"
#   -Q data (421 + close)   -q . (drop)   -p -8 -N -E -e (hide extensions)
# A dump file holds X-Client-Addr/X-Client-Proto/X-Helo-Args/X-Mail-Args/
# X-Rcpt-Args headers, a 3-line Received: header, then the message with LF
# line ends, then one extra empty line.
set -u
. "$(dirname "$0")/common.sh"

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: sink.sh start|stop DIR [OPTION]..."
shift 2

case $cmd in
start)
	command -v smtp-sink >/dev/null 2>&1 || die "smtp-sink not found (apt-get install postfix)"
	mkdir -p "$dir/dump" || exit 1
	# As root smtp-sink must drop to a user; that user writes the dumps.
	chown nobody "$dir/dump" 2>/dev/null
	chmod 0777 "$dir/dump"
	tries=0
	while [ $tries -lt 5 ]; do
		port=$(free_port) || die "no free port"
		smtp-sink -u nobody -4 -a -t 30 -d "$dir/dump/%Y%m%d%H%M%S." \
		    "$@" "127.0.0.1:$port" 128 >"$dir/sink.log" 2>&1 &
		pid=$!
		if wait_port "$port" 50 "$pid" && alive "$pid"; then
			echo "$port" >"$dir/port"
			echo "$pid" >"$dir/pid"
			exit 0
		fi
		stop_pid "$pid"
		tries=$((tries + 1))
	done
	echo "smtp-sink did not start; log:" >&2
	cat "$dir/sink.log" >&2
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
