#!/bin/sh
# tests/servers/exim.sh - Exim 4.96 (Debian 12's exim4-daemon-light, GnuTLS)
# with STARTTLS, implicit TLS and AUTH, run from the unpacked .deb (as a
# package it would replace Postfix as the system MTA).
#
#   sh tests/servers/exim.sh fetch                 unpack into $EXIM_ROOT
#   sh tests/servers/exim.sh start DIR [CERTDIR]
#   sh tests/servers/exim.sh stop DIR
#
# EXIM_ROOT defaults to tests/.cache/exim (gitignored).  Two listeners on
# 127.0.0.1: DIR/port offers STARTTLS, DIR/port-implicit is implicit TLS
# (tls_on_connect_ports).  AUTH PLAIN, LOGIN and CRAM-MD5 are offered only
# inside TLS, for one fixed user (DIR/user, password DIR/password), and every
# recipient needs AUTH.  RCPT TO reject@exim.test gets 550.  Mail is
# delivered into the Maildir DIR/Maildir/new (LF line ends; Return-Path and
# Received prepended).  Logs: DIR/log/mainlog, paniclog, rejectlog.
#
# Needs root, the system user Debian-exim (created here, as exim4-base's
# postinst would) and the libraries of the unpacked binary (libidn12 is not
# in a base system).  Started with -C, Exim gives up root for deliveries:
# deliver_drop_privilege, everything owned by Debian-exim.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tlscommon.sh"

root=${EXIM_ROOT:-$here/../.cache/exim}
cmd=${1:-}
[ -n "$cmd" ] || die "usage: exim.sh fetch | start DIR [CERTDIR] | stop DIR"

TUSER=eximuser
TPASS='Ex-s3cret pass:word'

fetch() {
	[ -x "$root/usr/sbin/exim4" ] && return 0
	tmp=$(mktemp -d) || exit 1
	chmod 755 "$tmp"   # apt fetches as user _apt
	# apt-get download needs no root; it writes into the current directory.
	if ! (cd "$tmp" && apt-get download exim4-daemon-light >download.log 2>&1); then
		# No package lists yet (a fresh machine): fetch them once, as root.
		if [ "$(id -u)" != 0 ] || ! apt-get update >"$tmp/update.log" 2>&1 ||
		    ! (cd "$tmp" && apt-get download exim4-daemon-light >download.log 2>&1); then
			cat "$tmp/download.log" "$tmp/update.log" >&2 2>/dev/null
			rm -rf "$tmp"
			die "apt-get download exim4-daemon-light failed"
		fi
	fi
	mkdir -p "$root"
	dpkg -x "$tmp"/exim4-daemon-light_*.deb "$root" || die "dpkg -x failed"
	rm -rf "$tmp"
	[ -x "$root/usr/sbin/exim4" ] || die "no exim4 in the package?"
}

users() {
	id Debian-exim >/dev/null 2>&1 && return 0
	useradd --system --user-group --no-create-home \
	    --home-dir /var/spool/exim4 --shell /usr/sbin/nologin Debian-exim ||
	    die "cannot create user Debian-exim"
}

start() {
	dir=$1
	certs=${2:-}
	[ "$(id -u)" = 0 ] || die "the Exim recipe needs root"
	fetch
	root=$(cd "$root" && pwd)
	users
	exim=$root/usr/sbin/exim4
	missing=$(ldd "$exim" 2>&1 | grep 'not found')
	[ -z "$missing" ] || die "exim4 needs libraries: $missing (apt-get install libidn12 libgnutls-dane0 libnsl2 libpcre2-8-0, or ./dev.sh deps)"
	mkdir -p "$dir/spool" "$dir/log" "$dir/Maildir/new" "$dir/Maildir/cur" \
	    "$dir/Maildir/tmp" || exit 1
	dir=$(cd "$dir" && pwd)
	if [ -z "$certs" ]; then
		certs=$dir/certs
		sh "$here/tlscerts.sh" "$certs" || die "cannot make certificates"
	fi
	certs=$(cd "$certs" && pwd)
	chmod 0755 "$dir"
	chown -R Debian-exim:Debian-exim "$dir/spool" "$dir/log" "$dir/Maildir"
	echo "$TUSER" >"$dir/user"
	printf '%s' "$TPASS" >"$dir/password"
	tries=0
	while [ $tries -lt 5 ]; do
		port=$(free_port) || die "no free port"
		port2=$(free_port) || die "no free port"
		tries=$((tries + 1))
		[ "$port" != "$port2" ] || continue
		# Exim's string expansion: \$ keeps a literal $ for Exim.
		cat >"$dir/exim.conf" <<CF
# Private Exim for smtpsend's tests.
primary_hostname = exim.smtpsend.test
local_interfaces = <; 127.0.0.1
daemon_smtp_ports = $port : $port2
tls_on_connect_ports = $port2
spool_directory = $dir/spool
log_file_path = $dir/log/%slog
pid_file_path = $dir/exim.pid
keep_environment =
log_selector = +tls_peerdn +tls_cipher +smtp_protocol_error +smtp_syntax_error
deliver_drop_privilege = true
never_users = root
host_lookup =
rfc1413_hosts =
smtp_accept_max = 50
smtp_banner = \$primary_hostname ESMTP Exim \$version_number (smtpsend TLS test peer)
message_size_limit = 50M
smtputf8_advertise_hosts = *
chunking_advertise_hosts = *
pipelining_advertise_hosts = *
queue_run_max = 0
tls_advertise_hosts = *
tls_certificate = $certs/server.pem
tls_privatekey = $certs/server.key
# AUTH only inside TLS.
auth_advertise_hosts = \${if eq{\$tls_in_cipher}{}{}{*}}
acl_smtp_rcpt = acl_rcpt
acl_smtp_data = acl_data

begin acl
acl_rcpt:
  deny    local_parts = reject
          message = 5.1.1 No such user here
  accept  authenticated = *
  deny    message = 5.7.1 Authentication required

acl_data:
  accept

begin routers
everything:
  driver = accept
  transport = maildir

begin transports
maildir:
  driver = appendfile
  directory = $dir/Maildir
  maildir_format
  create_directory
  user = Debian-exim
  group = Debian-exim
  mode = 0644
  delivery_date_add = false
  envelope_to_add = false
  return_path_add

begin retry
*  *  F,1m,10s

begin authenticators
plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = \${if and {{eq{\$auth2}{$TUSER}}{eq{\$auth3}{$TPASS}}}}
  server_set_id = \$auth2

login:
  driver = plaintext
  public_name = LOGIN
  server_prompts = Username:: : Password::
  server_condition = \${if and {{eq{\$auth1}{$TUSER}}{eq{\$auth2}{$TPASS}}}}
  server_set_id = \$auth1

cram:
  driver = cram_md5
  public_name = CRAM-MD5
  server_secret = \${if eq{\$auth1}{$TUSER}{$TPASS}fail}
  server_set_id = \$auth1
CF
		"$exim" -C "$dir/exim.conf" -bV >"$dir/check.log" 2>&1 ||
		    { cat "$dir/check.log" >&2; return 1; }
		# -bdf: daemon in the foreground, so its PID is ours.
		"$exim" -C "$dir/exim.conf" -bdf -odi >"$dir/exim.log" 2>&1 &
		pid=$!
		if wait_port "$port" 100 "$pid" &&
		    wait_tls_port "$port2" 50 "$certs/ca.pem" "$pid" && alive "$pid"; then
			echo "$port" >"$dir/port"
			echo "$port2" >"$dir/port-implicit"
			echo "$pid" >"$dir/pid"
			return 0
		fi
		stop_pid "$pid"
	done
	echo "Exim did not start; log:" >&2
	cat "$dir/exim.log" "$dir/log/paniclog" "$dir/log/mainlog" >&2 2>/dev/null
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
start) [ -n "${2:-}" ] || die "start needs DIR"; start "$2" "${3:-}" ;;
stop) [ -n "${2:-}" ] || die "stop needs DIR"; stop "$2" ;;
*) die "unknown command: $cmd" ;;
esac
