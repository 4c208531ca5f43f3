#!/bin/sh
# tests/servers/postfix.sh - a private Postfix smtpd instance on 127.0.0.1
# that accepts mail for every domain and delivers it into one Maildir.
#
#   sh tests/servers/postfix.sh start DIR   writes DIR/port; mail: DIR/Maildir/new
#   sh tests/servers/postfix.sh stop DIR
#
# Own main.cf/master.cf under DIR/etc, chroot off, own queue, data directory
# and maillog file (there may be no syslog).  Needs root (Postfix's master
# runs as root and drops to mail_owner "postfix").  Delivered files have LF
# line ends and Return-Path/X-Original-To/Delivered-To/Received prepended.
set -u
. "$(dirname "$0")/common.sh"

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: postfix.sh start|stop DIR"

# master_pid: the master's PID from its pid file, if any.
master_pid() {
	f="$dir/queue/pid/master.pid"
	[ -f "$f" ] && tr -d ' \n' <"$f"
}

start() {
	command -v postfix >/dev/null 2>&1 || die "postfix not found (apt-get install postfix)"
	[ "$(id -u)" = 0 ] || die "the Postfix recipe needs root"
	id postfix >/dev/null 2>&1 || die "user postfix missing (reinstall the postfix package)"
	dir=$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir")
	mkdir -p "$dir/etc" "$dir/queue" "$dir/data" "$dir/Maildir" || exit 1
	chown postfix "$dir/data"
	# virtual(8) delivers as nobody into the Maildir.
	mkdir -p "$dir/Maildir/new" "$dir/Maildir/cur" "$dir/Maildir/tmp"
	chown -R nobody "$dir/Maildir"
	port=$(free_port) || die "no free port"
	cat >"$dir/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
syslog_name = smtpsend-test-postfix
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = postfix.smtpsend.test
mydomain = smtpsend.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relayhost =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = check_recipient_access inline:{ {reject@smtpsend.test = 550 5.1.1 No such user here} }, permit_mynetworks, reject
virtual_mailbox_domains = static:all
virtual_mailbox_base = $dir
virtual_mailbox_maps = static:Maildir/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_minimum_uid = 1
virtual_mailbox_limit = 0
message_size_limit = 52428800
smtputf8_enable = yes
biff = no
smtpd_banner = \$myhostname ESMTP Postfix (smtpsend test peer)
smtpd_error_sleep_time = 0
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
CF
	cat >"$dir/etc/master.cf" <<CF
127.0.0.1:$port inet n - n - - smtpd
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
proxywrite unix - - n - 1 proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
virtual   unix  - n n - - virtual
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
CF
	# Postfix re-reads a main.cf younger than ~2 s: backdate it.
	touch -d '2000-01-01 00:00:00' "$dir/etc/main.cf" "$dir/etc/master.cf"
	if ! postfix -c "$dir/etc" start >"$dir/start.log" 2>&1; then
		# Postfix prints its fatal errors only to a terminal (or syslog):
		# run it again under script(1) to show why.
		echo "postfix start failed:" >&2
		script -qec "postfix -c '$dir/etc' start" /dev/null </dev/null >&2
		cat "$dir/maillog" >&2 2>/dev/null
		return 1
	fi
	if wait_port "$port" 100; then
		echo "$port" >"$dir/port"
		master_pid >"$dir/pid"
		return 0
	fi
	echo "postfix did not answer on 127.0.0.1:$port; log:" >&2
	cat "$dir/start.log" "$dir/maillog" >&2 2>/dev/null
	stop
	return 1
}

stop() {
	[ -d "$dir/etc" ] || return 0
	pid=$(master_pid)
	[ -n "$pid" ] || pid=$(cat "$dir/pid" 2>/dev/null)
	# Remember the master's children first: if it dies oddly they would
	# be orphans nobody else knows about.
	kids=
	[ -n "$pid" ] && kids=$(ps -o pid= --ppid "$pid" 2>/dev/null)
	postfix -c "$dir/etc" stop >/dev/null 2>&1
	[ -n "$pid" ] && stop_pid "$pid"
	for k in $kids; do
		stop_pid "$k"
	done
	rm -f "$dir/pid"
	return 0
}

case $cmd in
start) start ;;
stop) stop ;;
*) die "unknown command: $cmd" ;;
esac
