#!/bin/sh
# tests/servers/postfix-tls.sh - a private Postfix smtpd instance on
# 127.0.0.1 with TLS and Cyrus SASL AUTH, delivering into one Maildir.
#
#   sh tests/servers/postfix-tls.sh start DIR [CERTDIR]
#   sh tests/servers/postfix-tls.sh stop DIR
#
# Two listeners:
#   DIR/port           submission style: STARTTLS required
#                      (smtpd_tls_security_level=encrypt), AUTH offered only
#                      after TLS (smtpd_tls_auth_only)
#   DIR/port-implicit  implicit TLS (smtpd_tls_wrappermode, port-465 style)
# Both require AUTH for every recipient (no trusted mynetworks).  AUTH goes
# through Cyrus SASL with a private sasldb (auxprop) offering PLAIN LOGIN
# CRAM-MD5 SCRAM-SHA-256 SCRAM-SHA-1.  The test user is DIR/user with
# password DIR/password (in realm DIR/realm = myhostname, so the bare user
# name logs in); DIR/user2 and DIR/password2 are a second user,
# "we=ird,user" with a UTF-8 password.  The certificate (CERTDIR/server.pem,
# server.key) comes from tlscerts.sh; without CERTDIR one is made in
# DIR/certs.
# Mail: DIR/Maildir/new, LF line ends, Return-Path/X-Original-To/
# Delivered-To/Received prepended.  Logs: DIR/maillog.
#
# Needs root, the postfix package and sasl2-bin (saslpasswd2) plus
# libsasl2-modules (the PLAIN/LOGIN/CRAM-MD5/SCRAM plugins) and
# libsasl2-modules-db (the sasldb auxprop plugin).  smtpd runs as the
# postfix user without chroot: the sasldb is made readable by it.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tlscommon.sh"

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: postfix-tls.sh start DIR [CERTDIR] | stop DIR"

REALM=postfix.smtpsend.test
TUSER=tlsuser
TPASS='Pf-s3cret pass:word'
# A second user whose name needs SCRAM's =2C/=3D escapes and whose
# password is UTF-8 (SASLprep leaves it as it is).
TUSER2='we=ird,user'
TPASS2='p\303\244ssw\303\266rd=,x'

master_pid() {
	f="$dir/queue/pid/master.pid"
	[ -f "$f" ] && tr -d ' \n' <"$f"
}

start() {
	command -v postfix >/dev/null 2>&1 || die "postfix not found (apt-get install postfix)"
	command -v saslpasswd2 >/dev/null 2>&1 || die "saslpasswd2 not found (apt-get install sasl2-bin)"
	[ "$(id -u)" = 0 ] || die "the Postfix recipe needs root"
	id postfix >/dev/null 2>&1 || die "user postfix missing (reinstall the postfix package)"
	postconf -a 2>/dev/null | grep -qx cyrus || die "this Postfix has no Cyrus SASL support"
	certs=${3:-}
	dir=$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir")
	mkdir -p "$dir/etc/sasl" "$dir/queue" "$dir/data" || exit 1
	if [ -z "$certs" ]; then
		certs=$dir/certs
		sh "$here/tlscerts.sh" "$certs" || die "cannot make certificates"
	fi
	certs=$(cd "$certs" && pwd)
	[ -r "$certs/server.pem" ] && [ -r "$certs/server.key" ] || die "no server.pem/server.key in $certs"
	chmod 0755 "$dir"
	chown postfix "$dir/data"
	mkdir -p "$dir/Maildir/new" "$dir/Maildir/cur" "$dir/Maildir/tmp"
	chown -R nobody "$dir/Maildir"

	# The private sasldb, readable by smtpd (user postfix).  Debian's
	# Postfix reads smtpd.conf from config_directory/sasl whatever
	# cyrus_sasl_config_path says, so everything SASL lives in etc/sasl.
	printf '%s' "$TPASS" |
	    saslpasswd2 -p -f "$dir/etc/sasl/sasldb2" -c -u "$REALM" "$TUSER" ||
	    die "saslpasswd2 failed"
	# shellcheck disable=SC2059  # the format's octal escapes are the point
	printf "$TPASS2" |
	    saslpasswd2 -p -f "$dir/etc/sasl/sasldb2" -u "$REALM" "$TUSER2" ||
	    die "saslpasswd2 failed"
	chown -R postfix "$dir/etc/sasl"
	chmod 0750 "$dir/etc/sasl"
	chmod 0640 "$dir/etc/sasl/sasldb2"
	cat >"$dir/etc/sasl/smtpd.conf" <<CF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $dir/etc/sasl/sasldb2
mech_list: PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256 SCRAM-SHA-1
log_level: 3
CF
	chmod 0644 "$dir/etc/sasl/smtpd.conf"
	echo "$TUSER" >"$dir/user"
	printf '%s' "$TPASS" >"$dir/password"
	echo "$TUSER2" >"$dir/user2"
	# shellcheck disable=SC2059
	printf "$TPASS2" >"$dir/password2"
	echo "$REALM" >"$dir/realm"

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
syslog_name = smtpsend-test-postfix-tls
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = $REALM
mydomain = smtpsend.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relayhost =
# Nobody is trusted by address: every recipient needs AUTH.
mynetworks = 192.0.2.1/32
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = check_recipient_access inline:{ {reject@smtpsend.test = 550 5.1.1 No such user here} }, permit_sasl_authenticated, reject
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
smtpd_banner = \$myhostname ESMTP Postfix (smtpsend TLS test peer)
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100
smtpd_hard_error_limit = 200
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
# TLS
smtpd_tls_chain_files = $certs/server.key, $certs/server.pem
smtpd_tls_security_level = encrypt
smtpd_tls_auth_only = yes
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_tls_session_cache_database =
# SASL
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $dir/etc/sasl
smtpd_sasl_local_domain = $REALM
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
broken_sasl_auth_clients = no
CF
	# Postfix re-reads a main.cf younger than ~2 s: backdate it.
	touch -d '2000-01-01 00:00:00' "$dir/etc/main.cf"
	# A port taken between free_port and the bind makes the start fail:
	# try again with other ports.
	tries=0
	while [ $tries -lt 3 ]; do
		tries=$((tries + 1))
		port=$(free_port) || die "no free port"
		port2=$(free_port) || die "no free port"
		[ "$port" != "$port2" ] || continue
		write_master
		if ! postfix -c "$dir/etc" start >"$dir/start.log" 2>&1; then
			# Postfix prints its fatal errors only to a terminal (or
			# syslog): run it again under script(1) to show why.
			echo "postfix start failed:" >&2
			script -qec "postfix -c '$dir/etc' start" /dev/null </dev/null >&2
			cat "$dir/maillog" >&2 2>/dev/null
			stop
			continue
		fi
		# The STARTTLS port greets in plain text; the implicit one is
		# checked with a verified TLS handshake.
		if wait_port "$port" 100 && wait_tls_port "$port2" 100 "$certs/ca.pem"; then
			echo "$port" >"$dir/port"
			echo "$port2" >"$dir/port-implicit"
			master_pid >"$dir/pid"
			return 0
		fi
		echo "postfix did not answer on 127.0.0.1:$port/$port2; log:" >&2
		cat "$dir/start.log" "$dir/maillog" >&2 2>/dev/null
		stop
	done
	return 1
}

write_master() {
	cat >"$dir/etc/master.cf" <<CF
127.0.0.1:$port inet n - n - - smtpd
127.0.0.1:$port2 inet n - n - - smtpd -o smtpd_tls_wrappermode=yes
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
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
	touch -d '2000-01-01 00:00:00' "$dir/etc/master.cf"
}

stop() {
	[ -d "$dir/etc" ] || return 0
	pid=$(master_pid)
	[ -n "$pid" ] || pid=$(cat "$dir/pid" 2>/dev/null)
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
start) start "$@" ;;
stop) stop ;;
*) die "unknown command: $cmd" ;;
esac
