#!/bin/sh
# The shipped files of akm-nmmd (conf/, docs/akm-nmmd.md):
#
#   check-nmmd-conf.sh config AKM_NMMD CONF
#       akm-nmmd accepts the shipped configuration file as it is, and with
#       every commented-out setting uncommented (so each name and default it
#       shows is one the service takes); a copy with an unknown setting is
#       refused (the file really is read).  akm-nmmd reads --config before
#       its other options, so "--config FILE --version" exits 0 only when
#       FILE parses.
#
#   check-nmmd-conf.sh unit UNIT INSTALLED_NMMD BUILT_NMMD
#       systemd-analyze verify on the generated unit, its ExecStart pointed
#       at the built akm-nmmd (the installed one need not exist yet); any
#       message fails, since verify exits 0 on unknown keys and bad values.
#       Skipped (77) without systemd-analyze.
set -u

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

if [ "${1:-}" = unit ] && ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP: no systemd-analyze"
	exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

case "${1:-}" in
config)
	nmmd=$2 conf=$3
	"$nmmd" --config "$conf" --version >"$tmp/out" 2>&1 ||
		fail "akm-nmmd refused $conf: $(cat "$tmp/out")"
	# Settings are the lines "#name = value"; prose comments start "# ".
	sed 's/^#\([a-z][a-z-]* =\)/\1/' "$conf" >"$tmp/all.conf"
	for name in max-connections idle-timeout exchange-timeout fail-limit fail-window lockout \
	            clone-window token-refresh; do
		grep -q "^$name = [0-9][0-9]*\$" "$tmp/all.conf" || fail "$conf does not show $name"
	done
	"$nmmd" --config "$tmp/all.conf" --version >"$tmp/out" 2>&1 ||
		fail "akm-nmmd refused $conf with its settings uncommented: $(cat "$tmp/out")"
	cp "$tmp/all.conf" "$tmp/bad.conf"
	echo "no-such-setting = 1" >>"$tmp/bad.conf"
	"$nmmd" --config "$tmp/bad.conf" --version >"$tmp/out" 2>&1
	rc=$?
	[ "$rc" -eq 1 ] || fail "an unknown setting: exit $rc, expected 1"
	grep -q "bad.conf:[0-9]*: unknown setting: no-such-setting" "$tmp/out" ||
		fail "an unknown setting: $(cat "$tmp/out")"
	# getopt takes "--conf" for "--config": the file is read all the same.
	"$nmmd" --conf "$tmp/bad.conf" --version >"$tmp/out" 2>&1
	rc=$?
	[ "$rc" -eq 1 ] || fail "--conf with an unknown setting: exit $rc, expected 1"
	# An unknown name is that, whatever its value.
	printf 'no-such-setting = lots\n' >"$tmp/bad2.conf"
	"$nmmd" --config "$tmp/bad2.conf" --version >"$tmp/out" 2>&1
	grep -q "unknown setting: no-such-setting" "$tmp/out" || fail "unknown name, bad value: $(cat "$tmp/out")"
	# Bad addresses and repeated options are usage errors, found before
	# any token is opened (no module is given here).
	"$nmmd" --listen nonsense --version >"$tmp/out" 2>&1
	rc=$?
	[ "$rc" -eq 1 ] && grep -q -- "--listen nonsense: not HOST:PORT" "$tmp/out" ||
		fail "--listen nonsense: exit $rc: $(cat "$tmp/out")"
	"$nmmd" --token a --token b --version >"$tmp/out" 2>&1
	rc=$?
	[ "$rc" -eq 1 ] && grep -q -- "--token given twice" "$tmp/out" || fail "--token twice: exit $rc: $(cat "$tmp/out")"
	"$nmmd" --lockout -5 --version >"$tmp/out" 2>&1
	rc=$?
	[ "$rc" -eq 1 ] || fail "--lockout -5: exit $rc"
	echo "ok: $conf accepted (as shipped and uncommented); bad options refused"
	;;
unit)
	unit=$2 installed=$3 built=$4
	grep -q "^ExecStart=$installed " "$unit" || fail "$unit: ExecStart is not $installed"
	sed "s|^ExecStart=$installed |ExecStart=$built |" "$unit" >"$tmp/akm-nmmd.service"
	systemd-analyze verify "$tmp/akm-nmmd.service" >"$tmp/out" 2>&1
	rc=$?
	[ "$rc" -eq 0 ] && [ ! -s "$tmp/out" ] || fail "systemd-analyze verify (exit $rc): $(cat "$tmp/out")"
	echo "ok: systemd-analyze verify $unit"
	;;
*)
	echo "usage: $0 config AKM_NMMD CONF | unit UNIT INSTALLED_NMMD BUILT_NMMD" >&2
	exit 2
	;;
esac
