# tests/servers/common.sh - helpers shared by the server recipes (POSIX sh).
# Sourced, not run.  Every wait is bounded; everything listens on 127.0.0.1.

PY=/usr/bin/python3

# free_port: print a TCP port on 127.0.0.1 that was free a moment ago.
# (The kernel picks it; the small race with other programs is handled by
# the recipes retrying start a few times.)
free_port() {
	"$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# wait_port PORT [TENTHS [PID]]: wait until something accepts on
# 127.0.0.1:PORT and sends a greeting line (any reply code: a fault variant
# may greet with 421); at most TENTHS tenths of a second (default 100), and
# not after process PID (when given) has died.
wait_port() {
	"$PY" - "$1" "${2:-100}" "${3:-0}" <<'PYEOF'
import os, socket, sys, time
port, tenths, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

def dead(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True

for _ in range(tenths):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.settimeout(5)
            if s.recv(512)[:3].isdigit():
                s.sendall(b"QUIT\r\n")
                sys.exit(0)
    except OSError:
        pass
    if pid and dead(pid):
        sys.exit(1)
    time.sleep(0.1)
sys.exit(1)
PYEOF
}

# alive PID: true while PID runs (and is not a zombie).
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	case $st in Z*) return 1 ;; esac
	return 0
}

# stop_pid PID: TERM, wait up to 5 s, then KILL.  Never by name.
stop_pid() {
	[ -n "$1" ] || return 0
	alive "$1" || return 0
	kill -TERM "$1" 2>/dev/null
	i=0
	while [ $i -lt 50 ] && alive "$1"; do
		sleep 0.1
		i=$((i + 1))
	done
	alive "$1" && kill -KILL "$1" 2>/dev/null
	return 0
}

die() {
	echo "$0: $*" >&2
	exit 1
}
