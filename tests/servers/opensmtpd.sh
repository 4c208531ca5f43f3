#!/bin/sh
# tests/servers/opensmtpd.sh - OpenSMTPD 6.8 (Debian 12), plain SMTP only,
# run from the unpacked .deb (it conflicts with postfix as a package).
#
#   sh tests/servers/opensmtpd.sh fetch          unpack into $OPENSMTPD_ROOT
#   sh tests/servers/opensmtpd.sh start DIR      writes DIR/port, DIR/pid
#   sh tests/servers/opensmtpd.sh stop DIR
#
# OPENSMTPD_ROOT defaults to tests/.cache/opensmtpd (gitignored).  Every
# message is handed to an mda that stores it in DIR/mail/*.eml (LF line
# ends, OpenSMTPD's Received: header prepended).  RCPT TO
# reject@opensmtpd.test is refused with 550.  No PIPELINING is advertised,
# and OpenSMTPD answers pipelined commands with "500 5.5.1 Pipelining not
# supported": the strict peer.  Needs root and the system users opensmtpd
# and opensmtpq (created here, as the package's postinst would).
#
# The spool (/var/spool/smtpd) and control socket (/run/smtpd.sock) paths
# are compiled in; the server runs in a private mount namespace with DIR's
# own directories bound over /var/spool and /run (and the unpacked
# usr/libexec over /usr/libexec, for the compiled-in mail.mda wrapper), so
# nothing on the host is touched and runs never collide.  Without unshare(1)
# rights (or with OPENSMTPD_NO_UNSHARE=1) it falls back to the host paths:
# one instance at a time, a fresh /var/spool/smtpd, and a
# /usr/libexec/opensmtpd symlink.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

root=${OPENSMTPD_ROOT:-$here/../.cache/opensmtpd}
cmd=${1:-}
[ -n "$cmd" ] || die "usage: opensmtpd.sh fetch | start DIR | stop DIR"

fetch() {
	[ -x "$root/usr/sbin/smtpd" ] && return 0
	tmp=$(mktemp -d) || exit 1
	chmod 755 "$tmp"   # apt fetches as user _apt
	# apt-get download needs no root; it writes into the current directory.
	if ! (cd "$tmp" && apt-get download opensmtpd >/dev/null); then
		rm -rf "$tmp"
		die "apt-get download opensmtpd failed"
	fi
	mkdir -p "$root"
	dpkg -x "$tmp"/opensmtpd_*.deb "$root" || die "dpkg -x failed"
	rm -rf "$tmp"
	[ -x "$root/usr/sbin/smtpd" ] || die "no smtpd in the package?"
}

users() {
	# What the package's postinst does, with useradd (always present).
	for u in opensmtpd opensmtpq; do
		id "$u" >/dev/null 2>&1 && continue
		useradd --system --user-group --no-create-home \
		    --home-dir /var/lib/opensmtpd/empty \
		    --shell /usr/sbin/nologin "$u" || die "cannot create user $u"
	done
	# smtpd chroots its unprivileged processes here.
	mkdir -p /var/lib/opensmtpd/empty
}

start() {
	dir=$1
	[ "$(id -u)" = 0 ] || die "the OpenSMTPD recipe needs root"
	fetch
	root=$(cd "$root" && pwd)
	users
	missing=$(ldd "$root/usr/sbin/smtpd" 2>&1 | grep 'not found')
	[ -z "$missing" ] || die "smtpd needs libraries: $missing (apt-get install libevent-2.1-7)"
	mkdir -p "$dir/mail" "$dir/spool" "$dir/run" || exit 1
	dir=$(cd "$dir" && pwd)
	chmod 0777 "$dir/mail"
	chmod 0755 "$dir" "$dir/spool" "$dir/run"
	cat >"$dir/deliver" <<SH
#!/bin/sh
# mda: store stdin as one file, atomically.
umask 022
f="$dir/mail/\$(date +%s%N).\$\$"
cat >"\$f.tmp" && mv "\$f.tmp" "\$f.eml"
SH
	chmod 0755 "$dir/deliver"
	tries=0
	while [ $tries -lt 5 ]; do
		port=$(free_port) || die "no free port"
		cat >"$dir/smtpd.conf" <<CF
# Private OpenSMTPD for smtpsend's tests: plain SMTP on 127.0.0.1 only.
listen on 127.0.0.1 port $port hostname opensmtpd.test
table vusers { "@" = "nobody" }
action "store" mda "/bin/sh $dir/deliver" virtual <vusers> user nobody
match from any for rcpt-to "reject@opensmtpd.test" reject
match from any for any action "store"
CF
		"$root/usr/sbin/smtpd" -n -f "$dir/smtpd.conf" >"$dir/check.log" 2>&1 ||
		    { cat "$dir/check.log" >&2; return 1; }
		# Probe the whole namespace set-up: a container may allow
		# unshare but not mount.
		if [ -z "${OPENSMTPD_NO_UNSHARE:-}" ] && unshare -m sh -c '
		    mount --bind "$1/spool" /var/spool &&
		    mount --bind "$1/run" /run' sh "$dir" 2>/dev/null; then
			unshare -m sh -c '
			    mount --bind "$1/spool" /var/spool &&
			    mount --bind "$1/run" /run &&
			    mount --bind "$3/usr/libexec" /usr/libexec &&
			    exec "$2" -d -f "$1/smtpd.conf"' sh "$dir" \
			    "$root/usr/sbin/smtpd" "$root" >"$dir/smtpd.log" 2>&1 &
		else
			# The mda wrapper path is compiled in too.  The host spool
			# belongs to no installed package (opensmtpd conflicts with
			# postfix); empty it so no envelope of an earlier run is
			# delivered into this one.
			rm -rf /var/spool/smtpd
			[ -e /usr/libexec/opensmtpd ] ||
			    ln -s "$root/usr/libexec/opensmtpd" /usr/libexec/opensmtpd
			"$root/usr/sbin/smtpd" -d -f "$dir/smtpd.conf" \
			    >"$dir/smtpd.log" 2>&1 &
		fi
		pid=$!
		if wait_port "$port" 100 "$pid" && alive "$pid"; then
			echo "$port" >"$dir/port"
			echo "$pid" >"$dir/pid"
			return 0
		fi
		stop_pid "$pid"
		tries=$((tries + 1))
	done
	echo "OpenSMTPD did not start; log:" >&2
	cat "$dir/smtpd.log" >&2
	return 1
}

stop() {
	dir=$1
	[ -f "$dir/pid" ] || return 0
	pid=$(cat "$dir/pid")
	kids=$(ps -o pid= --ppid "$pid" 2>/dev/null)
	stop_pid "$pid"
	for k in $kids; do
		stop_pid "$k"
	done
	rm -f "$dir/pid"
	return 0
}

case $cmd in
fetch) fetch ;;
start) [ -n "${2:-}" ] || die "start needs DIR"; start "$2" ;;
stop) [ -n "${2:-}" ] || die "stop needs DIR"; stop "$2" ;;
*) die "unknown command: $cmd" ;;
esac
