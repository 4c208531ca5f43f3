#!/bin/sh
# The whole test suite: unit tests, scripted fake-server cases and real
# servers, first against ./smtpsend, then again against the ASan+UBSan
# build.  Every suite ends with "SUITE|unit NAME: N passed, M failed";
# a suite that ends without that line counts as one failure (it
# crashed or could not run: never a silent skip).  Last line:
# "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 1
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
LOG=tests/.work/run_all.log
mkdir -p tests/.work
: >"$LOG"
pass=0
fail=0

suite() {
	name=$1
	shift
	echo "=== $name"
	out=tests/.work/suite.out
	"$@" >"$out" 2>&1
	rc=$?
	cat "$out"
	cat "$out" >>"$LOG"
	line=$(grep -E '^(SUITE|unit) [A-Za-z0-9_-]+: [0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	if [ -z "$line" ]; then
		echo "!!! $name: no result line (exit $rc): counted as a failure"
		fail=$((fail + 1))
		return
	fi
	p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\1/')
	f=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\2/')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "!!! $name: exit $rc with no failure counted: counted as one"
		f=1
	fi
	pass=$((pass + p))
	fail=$((fail + f))
}

manlint() {
	if ! command -v mandoc >/dev/null 2>&1; then
		echo "FAIL man: mandoc is not installed"
		echo "SUITE man: 0 passed, 1 failed"
		return 1
	fi
	if lint=$(mandoc -Tlint -W warning docs/smtpsend.1 2>&1) && [ -z "$lint" ]; then
		echo "ok mandoc -Tlint docs/smtpsend.1"
		echo "SUITE man: 1 passed, 0 failed"
	else
		echo "FAIL man: $lint"
		echo "SUITE man: 0 passed, 1 failed"
		return 1
	fi
}

# LeakSanitizer needs ptrace-like access that some sandboxes refuse;
# leaks are checked by valgrind in run_real.sh instead.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS UBSAN_OPTIONS

for u in $(sed -n "s/^UNITNAMES *= *//p" Makefile); do
	suite "unit $u" tests/unit/test_$u
done
suite "man page" manlint
suite "cases" "$PY" tests/run_cases.py --bin ./smtpsend
suite "misc" env SMTPSEND=./smtpsend "$PY" tests/run_misc.py
suite "scenarios" env SMTPSEND=./smtpsend "$PY" tests/run_scenarios.py
suite "real servers" env SMTPSEND=./smtpsend sh tests/run_real.sh
suite "callers" env SMTPSEND=./smtpsend "$PY" tests/run_callers.py
suite "real TLS servers" env SMTPSEND=./smtpsend "$PY" tests/run_real_tls.py
suite "TLS extra" env SMTPSEND=./smtpsend "$PY" tests/run_tls_extra.py
for u in $(sed -n "s/^UNITNAMES *= *//p" Makefile); do
	suite "unit $u (asan)" build-asan/test_$u
done
suite "cases (asan)" "$PY" tests/run_cases.py --bin build-asan/smtpsend
suite "misc (asan)" env SMTPSEND=build-asan/smtpsend "$PY" tests/run_misc.py
suite "scenarios (asan)" env SMTPSEND=build-asan/smtpsend "$PY" tests/run_scenarios.py
suite "real servers (asan)" env SMTPSEND=build-asan/smtpsend sh tests/run_real.sh
suite "callers (asan)" env SMTPSEND=build-asan/smtpsend "$PY" tests/run_callers.py
suite "real TLS servers (asan)" env SMTPSEND=build-asan/smtpsend "$PY" tests/run_real_tls.py
suite "TLS extra (asan)" env SMTPSEND=build-asan/smtpsend "$PY" tests/run_tls_extra.py

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
