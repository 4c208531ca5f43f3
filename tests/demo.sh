#!/bin/sh
# tests/demo.sh - run by "make demo": start a private Postfix smtpd on
# 127.0.0.1 delivering into a Maildir, send examples/seed-message.txt with
# "./smtpsend -v" (the whole dialogue shows), print the message as Postfix
# stored it, stop Postfix.  Falls back to Postfix smtp-sink when not root.
# SMTPSEND overrides the binary (default ./smtpsend).
set -u
cd "$(dirname "$0")/.." || exit 1
SMTPSEND=${SMTPSEND:-./smtpsend}
MSG=examples/seed-message.txt
FROM=sender@mydomain.com
RCPT=recipient@anotherdomain.com

[ -x "$SMTPSEND" ] || { echo "demo: $SMTPSEND not built (run make)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/smtpsend-demo.XXXXXX") || exit 1
chmod 755 "$work"
srv=$work/server
recipe=postfix
[ "$(id -u)" = 0 ] || recipe=sink

cleanup() {
	sh tests/servers/$recipe.sh stop "$srv" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

heading() {
	printf '\n== %s\n\n' "$*"
}

if [ $recipe = postfix ]; then
	heading "Starting a private Postfix smtpd on 127.0.0.1 (delivers into a Maildir)"
else
	heading "Not root: starting Postfix smtp-sink on 127.0.0.1 instead of smtpd"
fi
sh tests/servers/$recipe.sh start "$srv" || { echo "demo: the server did not start" >&2; exit 1; }
port=$(cat "$srv/port")
echo "listening on 127.0.0.1:$port"

heading "The message to send ($MSG)"
cat "$MSG"

heading "$SMTPSEND -v --host=127.0.0.1 --port=$port --domain=mydomain.com --tls=off -f $FROM $RCPT < $MSG"
"$SMTPSEND" -v --host=127.0.0.1 --port="$port" --domain=mydomain.com \
    --tls=off -f "$FROM" "$RCPT" <"$MSG" 2>&1
rc=$?
echo "(exit status $rc)"
[ $rc -eq 0 ] || exit $rc

if [ $recipe = postfix ]; then
	what="The message as Postfix delivered it (Maildir/new/"
	box=$srv/Maildir/new
else
	what="The transaction as smtp-sink dumped it (dump/"
	box=$srv/dump
fi
# Postfix delivers in the background; wait (at most 20 s) for the file.
i=0
while [ $i -lt 200 ]; do
	f=$(ls "$box" 2>/dev/null | head -n 1)
	[ -n "$f" ] && break
	sleep 0.1
	i=$((i + 1))
done
if [ -z "$f" ]; then
	echo "demo: nothing was stored within 20 s" >&2
	[ -f "$srv/maillog" ] && tail -n 5 "$srv/maillog" >&2
	exit 1
fi
heading "$what$f)"
cat "$box/$f"

heading "Stopping the server"
sh tests/servers/$recipe.sh stop "$srv" && echo "stopped"
