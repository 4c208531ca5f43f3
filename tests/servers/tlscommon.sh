# tests/servers/tlscommon.sh - helpers for the TLS server recipes (POSIX sh),
# on top of common.sh.  Sourced, not run.

. "$(dirname "$0")/common.sh"

# wait_tls_port PORT [TENTHS [CAFILE [PID]]]: wait until 127.0.0.1:PORT
# completes a TLS handshake (verified against CAFILE when given) and sends a
# greeting line inside it; at most TENTHS tenths of a second (default 100),
# and not after process PID (when given) has died.
wait_tls_port() {
	"$PY" - "$1" "${2:-100}" "${3:-}" "${4:-0}" <<'PYEOF'
import socket, ssl, sys, time
port, tenths, ca, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])

def dead(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True

if ca:
    ctx = ssl.create_default_context(cafile=ca)
else:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
err = None
for _ in range(tenths):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.settimeout(5)
                if s.recv(512)[:3].isdigit():
                    s.sendall(b"QUIT\r\n")
                    sys.exit(0)
    except (OSError, ssl.SSLError) as e:
        err = e
    if pid and dead(pid):
        break
    time.sleep(0.1)
print("no TLS greeting on 127.0.0.1:%d: %s" % (port, err), file=sys.stderr)
sys.exit(1)
PYEOF
}
