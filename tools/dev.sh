#!/usr/bin/env bash
# tools/dev.sh — set up, build, and run akm-pkcs11's demo or its tests.
#
#   bash tools/dev.sh demo        throwaway SoftHSM2 token, used through akm-pkcs11.so
#   bash tools/dev.sh test        the full test suite (meson test)
#   bash tools/dev.sh test-asan   the suite again, built with ASan + UBSan
#   bash tools/dev.sh build       only install what is missing and build
#   bash tools/dev.sh fuzz        libFuzzer on the file and protocol parsers (clang build)
#
# Arguments after "test" or "test-asan" go to `meson test` (e.g. a test name,
# --suite unit, --setup valgrind).  On Debian/Ubuntu, packages that are
# missing are installed with apt-get first (as root, or through sudo).
#
# Environment:
#   BUILD_DIR       build folder for build/demo/test (default: build)
#   ASAN_BUILD_DIR  build folder for test-asan (default: build-asan)
#   DEMO_DIR        folder the demo recreates (default: demo)
#   AKM_SKIP_APT=1  never call apt-get (only report what is missing)
#   FUZZ_BUILD_DIR  clang build folder for fuzz (default: build-fuzz)
#   FUZZ_SECONDS    how long fuzz runs each parser (default: 20)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BUILD_DIR=${BUILD_DIR:-build}
ASAN_BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}
# Build folders may be given relative to the source tree or absolute.
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
case "$ASAN_BUILD_DIR" in /*) ;; *) ASAN_BUILD_DIR="$ROOT/$ASAN_BUILD_DIR" ;; esac
DEMO_DIR=${DEMO_DIR:-demo}

# What building, testing and the demo need on Debian 12 (chromium and
# chromium-driver: the status page rendered by the test status-page).
DEBIAN_PACKAGES=(
	build-essential meson ninja-build pkg-config check
	libp11-kit-dev p11-kit softhsm2 opensc libengine-pkcs11-openssl
	openssl libssl-dev libsqlite3-dev libsodium-dev valgrind util-linux
	libqrencode-dev libpng-dev zbar-tools clang libclang-rt-14-dev
	python3-cryptography libjansson-dev
	chromium chromium-driver
)

# The demo's throwaway token.  Its PINs are not secrets: the token lives in
# $DEMO_DIR and is thrown away on the next run.
DEMO_TOKEN=akm-demo
DEMO_SO_PIN=12345678
DEMO_USER_PIN=1234

heading() { printf '\n== %s\n' "$*"; }
note() { printf '%s\n' "$*"; }
die() { printf 'dev.sh: %s\n' "$*" >&2; exit 1; }

# Prints a command, then runs it.
run() {
	printf '$ %s\n' "$*"
	"$@"
}

usage() {
	sed -n '2,20s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

# --- set-up -----------------------------------------------------------------

install_missing_packages() {
	if ! command -v dpkg-query >/dev/null 2>&1; then
		note "dev.sh: not a Debian system; install the equivalents of: ${DEBIAN_PACKAGES[*]}"
		return 0
	fi
	local missing=() package
	for package in "${DEBIAN_PACKAGES[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$package")
		fi
	done
	[ "${#missing[@]}" -eq 0 ] && return 0

	if [ "${AKM_SKIP_APT:-0}" = 1 ]; then
		note "dev.sh: missing packages (AKM_SKIP_APT=1, not installing): ${missing[*]}"
		return 0
	fi
	local as_root=()
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 ||
			die "missing packages and not root (no sudo): apt-get install ${missing[*]}"
		as_root=(sudo)
	fi
	heading "Installing missing packages: ${missing[*]}"
	run "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
	run "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# build_in <dir> [meson option...]: configures <dir> (or reconfigures it when
# it is already a build folder) and builds it.
build_in() {
	local dir=$1
	shift
	heading "Building in $dir"
	if [ -f "$dir/meson-private/coredata.dat" ]; then
		run meson setup --reconfigure "$dir" "$@"
	else
		run meson setup "$dir" "$@"
	fi
	run ninja -C "$dir"
}

# --- commands -----------------------------------------------------------------

cmd_build() {
	install_missing_packages
	build_in "$BUILD_DIR"
}

cmd_test() {
	cmd_build
	heading "Running the test suite ($BUILD_DIR)"
	run meson test -C "$BUILD_DIR" --print-errorlogs "$@"
}

cmd_test_asan() {
	install_missing_packages
	build_in "$ASAN_BUILD_DIR" -Db_sanitize=address,undefined -Db_lundef=false
	# The suite's own environment (tests/meson.build) sets LSAN_OPTIONS and
	# UBSAN_OPTIONS; options set here apply on top of the sanitizer defaults.
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
	heading "Running the test suite under ASan + UBSan ($ASAN_BUILD_DIR)"
	run meson test -C "$ASAN_BUILD_DIR" --print-errorlogs "$@"
}

# Fuzzes each parser (tests/fuzz/) for FUZZ_SECONDS (default 20) in a clang
# build with -Dfuzz=true (FUZZ_BUILD_DIR, default build-fuzz), starting from
# a copy of the seed corpus (tests/fuzz/corpus/<target>; the seeds are not
# changed).  Findings (crash-*, leak-*, timeout-*) go to FUZZ_BUILD_DIR/findings.
cmd_fuzz() {
	install_missing_packages
	local dir=${FUZZ_BUILD_DIR:-build-fuzz} seconds=${FUZZ_SECONDS:-20}
	case "$dir" in /*) ;; *) dir="$ROOT/$dir" ;; esac
	command -v clang >/dev/null 2>&1 || die "fuzz: clang is needed (apt-get install clang libclang-rt-14-dev)"
	heading "Building the fuzz harnesses in $dir (clang, -Dfuzz=true)"
	if [ -f "$dir/meson-private/coredata.dat" ]; then
		run meson setup --reconfigure "$dir" -Dfuzz=true
	else
		run env CC=clang meson setup "$dir" -Dfuzz=true
	fi
	run ninja -C "$dir" tests/fuzz/fuzz-bundle tests/fuzz/fuzz-request \
		tests/fuzz/fuzz-anchor tests/fuzz/fuzz-node-state tests/fuzz/fuzz-login \
		tests/fuzz/fuzz-proto tests/fuzz/fuzz-policy tests/fuzz/fuzz-asr tests/fuzz/fuzz-http
	mkdir -p "$dir/findings"
	local target failed=() max_len
	for target in bundle request anchor node_state login proto policy asr http; do
		# an ASR package or an HTTP request head runs to 4 KiB; the rest fit 1,100 bytes
		case "$target" in asr | http) max_len=4200 ;; *) max_len=1100 ;; esac
		local work="$dir/fuzz-corpus/$target"
		rm -rf -- "$work"
		mkdir -p -- "$work"
		cp -- tests/fuzz/corpus/"$target"/* "$work"/
		heading "Fuzzing $target for ${seconds}s"
		if ! run "$dir/tests/fuzz/fuzz-${target//_/-}" -max_total_time="$seconds" -max_len="$max_len" \
			-print_final_stats=1 -artifact_prefix="$dir/findings/$target-" "$work"; then
			failed+=("$target")
		fi
	done
	if [ "${#failed[@]}" -gt 0 ]; then
		die "fuzz: findings for ${failed[*]} in $dir/findings"
	fi
	heading "Fuzz done: no findings (new inputs kept in $dir/fuzz-corpus)"
}

# demo_p11 <pkcs11-tool arguments...>: pkcs11-tool against akm-pkcs11.so.
demo_p11() {
	run pkcs11-tool --module "$DEMO_MODULE" "$@"
}

# expect <file> <text> <what>: fails the demo unless <file> contains <text>.
expect() {
	grep -qF -- "$2" "$1" || die "demo: $3 (\"$2\" not in the output above)"
}

# demo_nmm <sub-command> [args...]: the station, on the station token through
# akm-pkcs11.so.
demo_nmm() {
	local sub=$1
	shift
	run "$DEMO_NMM" "$sub" --module "$DEMO_MODULE" --token "$DEMO_TOKEN" --pin-file "$DEMO_PIN_FILE" "$@"
}

# demo_node <node> <sub-command> [args...]: a node, on its own SoftHSM2 token
# (its "secure element"), used directly through libsofthsm2.so.
demo_node() {
	local node=$1 sub=$2
	shift 2
	run "$DEMO_NODE" "$sub" --module "$DEMO_SOFTHSM" --token "akm-node-$node" --pin-file "$DEMO_PIN_FILE" "$@"
}

# demo_member <node> <sub-command> [args...]: a node as a member of
# operational ASRs: akm-node through akm-pkcs11.so configured over the node's
# own token (its configuration and registry in the demo folder).
demo_member() {
	local node=$1 sub=$2 conf="$DEMO_ROOT/member-$1.conf"
	shift 2
	if [ ! -f "$conf" ]; then
		printf 'backend.module = %s\nbackend.token = pkcs11:token=akm-node-%s\nregistry.path = member-%s.db\n' \
			"$DEMO_SOFTHSM" "$node" "$node" >"$conf"
	fi
	AKM_PKCS11_CONF="$conf" run "$DEMO_NODE" "$sub" --module "$DEMO_MODULE" --token "akm-node-$node" \
		--pin-file "$DEMO_PIN_FILE" "$@"
}

# demo_wait_state <node> <state>: waits up to 10 s for the station to show
# the node's PR in that state (akm-nmmd acts on its own, within a second).
demo_wait_state() {
	local tries=0
	until "$DEMO_NMM" show "$1" --module "$DEMO_MODULE" --token "$DEMO_TOKEN" --pin-file "$DEMO_PIN_FILE" 2>/dev/null |
		grep -qE "^state: +$2"; do
		tries=$((tries + 1))
		[ "$tries" -lt 100 ] || die "demo: $1 is not $2 within 10 s"
		sleep 0.1
	done
	note "    $1 is $2"
}

cmd_demo() {
	# The folder is deleted and recreated: keep it a plain folder of the tree.
	case "/$DEMO_DIR/" in
	//* | */../* | */./* | //) die "DEMO_DIR must name a folder inside the source tree, not \"$DEMO_DIR\"" ;;
	esac
	cmd_build
	DEMO_MODULE="$BUILD_DIR/src/akm-pkcs11.so"
	DEMO_NMM="$BUILD_DIR/tools/akm-nmm"
	DEMO_NODE="$BUILD_DIR/tools/akm-node"
	DEMO_NMMD="$BUILD_DIR/tools/akm-nmmd"
	local akm_conf_template="$BUILD_DIR/conf/akm-pkcs11-build.conf"
	[ -f "$DEMO_MODULE" ] || die "the build made no $DEMO_MODULE"
	[ -f "$akm_conf_template" ] || die "the build made no $akm_conf_template"
	[ -x "$DEMO_NMM" ] || die "the build made no $DEMO_NMM"
	[ -x "$DEMO_NODE" ] || die "the build made no $DEMO_NODE"
	[ -x "$DEMO_NMMD" ] || die "the build made no $DEMO_NMMD"
	# The backend akm-pkcs11 uses; the nodes' tokens use it directly.
	DEMO_SOFTHSM=$(sed -n 's/^backend\.module *= *//p' "$akm_conf_template")
	[ -f "$DEMO_SOFTHSM" ] || die "no SoftHSM2 module at \"$DEMO_SOFTHSM\" (backend.module of $akm_conf_template)"

	local demo="$ROOT/$DEMO_DIR"
	DEMO_ROOT=$demo
	heading "A fresh demo folder: $demo"
	rm -rf -- "$demo"
	mkdir -p -- "$demo/tokens" "$demo/usb"
	chmod 700 -- "$demo"

	# SoftHSM2's own configuration, from conf/softhsm2.conf.in.
	sed -e "s|@TOKEN_DIR@|$demo/tokens|" conf/softhsm2.conf.in >"$demo/softhsm2.conf"
	# akm-pkcs11's configuration, from conf/akm-pkcs11.conf (with this build's
	# backend path): select the demo token, keep the registry in the folder.
	sed -e "s|^backend\.token *=.*|backend.token = pkcs11:token=$DEMO_TOKEN|" \
		-e "s|^registry\.path *=.*|registry.path = registry.db|" \
		"$akm_conf_template" >"$demo/akm-pkcs11.conf"
	export SOFTHSM2_CONF="$demo/softhsm2.conf"
	export AKM_PKCS11_CONF="$demo/akm-pkcs11.conf"
	note "SOFTHSM2_CONF=$SOFTHSM2_CONF"
	note "AKM_PKCS11_CONF=$AKM_PKCS11_CONF"
	grep -v -e '^#' -e '^$' "$AKM_PKCS11_CONF" | sed 's/^/    /'
	# The tools read PINs from files (never from the command line).
	DEMO_PIN_FILE="$demo/user.pin"
	(umask 077 && printf '%s\n' "$DEMO_USER_PIN" >"$DEMO_PIN_FILE")

	local nodes=(A B C D E) node
	heading "Throwaway SoftHSM2 tokens (SO PIN $DEMO_SO_PIN, user PIN $DEMO_USER_PIN): the station \"$DEMO_TOKEN\", and a secure element per node (F joins later)"
	run softhsm2-util --init-token --free --label "$DEMO_TOKEN" \
		--so-pin "$DEMO_SO_PIN" --pin "$DEMO_USER_PIN"
	for node in "${nodes[@]}" F; do
		run softhsm2-util --init-token --free --label "akm-node-$node" \
			--so-pin "$DEMO_SO_PIN" --pin "$DEMO_USER_PIN"
	done

	local out="$demo/pkcs11-tool.out"
	local token=(--token-label "$DEMO_TOKEN")
	local login=(--login --pin "$DEMO_USER_PIN")

	heading "Through akm-pkcs11.so: generate an AES-256 key \"akm-demo-aes\""
	note "(pkcs11-tool then tries to read the key's value: CKR_ATTRIBUTE_SENSITIVE is the right answer for a sensitive key)"
	# Private objects (--private): without a login, no one sees or uses them.
	demo_p11 "${token[@]}" "${login[@]}" --keygen --key-type AES:32 \
		--label akm-demo-aes --id a1 --sensitive --private

	heading "Through akm-pkcs11.so: generate an EC P-256 key pair \"akm-demo-ec\""
	demo_p11 "${token[@]}" "${login[@]}" --keypairgen --key-type EC:prime256v1 \
		--label akm-demo-ec --id e1 --usage-sign --private

	heading "Without a login, the demo's keys are not there (private objects: pkcs11-tool -O, no --login)"
	demo_p11 "${token[@]}" -O | tee "$out"
	if grep -qE 'akm-demo-(aes|ec)' "$out"; then
		die "demo: a demo key is visible without a login (not a private object)"
	fi

	# --- the provisioning station ---------------------------------------------
	heading "Station: akm-nmm init (station ID, signing key, site metadata)"
	demo_nmm init --site "Demo site" --location "Bench 1" --anchor-out "$demo/station.akmp" | tee "$demo/init.out"

	# Each node's hardware value is its secure element's serial.
	declare -A hw
	heading "Nodes: their hardware values (akm-node hw-id: the token serial)"
	for node in "${nodes[@]}"; do
		demo_node "$node" hw-id | tee "$out"
		# The last line: the first is the command, as run prints it.
		hw[$node]=$(tail -n 1 "$out" | awk '{print $NF}')
		[ -n "${hw[$node]}" ] || die "demo: akm-node hw-id printed no hardware value for node $node"
	done

	# How a node's keys may leave the station is fixed when it is made: A-C
	# on a USB drive under a passphrase, D-E only to their own keys.
	heading "Station: provision nodes A-E, each bound to its hardware value (A-C for passphrase delivery, D-E to their own keys)"
	: >"$demo/batch-usb.txt"
	: >"$demo/batch-se.txt"
	for node in "${nodes[@]}"; do
		case "$node" in
		A | B | C) printf 'node-%s %s\n' "$node" "${hw[$node]}" >>"$demo/batch-usb.txt" ;;
		*) printf 'node-%s %s\n' "$node" "${hw[$node]}" >>"$demo/batch-se.txt" ;;
		esac
	done
	sed 's/^/    /' "$demo/batch-usb.txt"
	demo_nmm provision --batch "$demo/batch-usb.txt" --delivery passphrase | tee "$out"
	expect "$out" "provisioned 3" "the station did not provision nodes A-C"
	sed 's/^/    /' "$demo/batch-se.txt"
	demo_nmm provision --batch "$demo/batch-se.txt" | tee "$out"
	expect "$out" "provisioned 2" "the station did not provision nodes D-E"

	heading "Station: USB bundles for A-C under one generated batch passphrase (shown once, and as a QR code)"
	note "(the passphrase travels apart from the drive: the QR code goes to $demo/passphrase-qr.png, not onto it)"
	demo_nmm export --nodes node-A,node-B,node-C --out "$demo/usb" --protection passphrase \
		--generate-passphrase --qr-png "$demo/passphrase-qr.png" | tee "$out"
	[ -s "$demo/passphrase-qr.png" ] || die "demo: no QR code PNG was written"
	local passphrase
	passphrase=$(grep -oE '([A-Za-z0-9]{5}-){5}[A-Za-z0-9]{5}' "$out" | head -n 1 || true)
	[ -n "$passphrase" ] || die "demo: the batch passphrase is not in akm-nmm's output"
	if command -v zbarimg >/dev/null 2>&1; then
		note "The field technician scans the QR code (zbarimg reads the PNG):"
		local scanned
		# (zbarimg's complaint about a missing D-Bus is noise: dropped.)
		scanned=$(zbarimg --quiet --raw "$demo/passphrase-qr.png" 2>/dev/null | head -n 1)
		[ "$scanned" = "$passphrase" ] || die "demo: the QR code does not hold the passphrase shown"
		note "    the QR code holds the passphrase shown above"
	fi
	run ls -l "$demo/usb"

	# The anchor on the drive is only as good as its fingerprint: each node
	# pins it checked against the one akm-nmm init printed at the station.
	local fingerprint
	fingerprint=$(sed -n 's/^anchor fingerprint: //p' "$demo/init.out")
	[ -n "$fingerprint" ] || die "demo: akm-nmm init printed no anchor fingerprint"
	heading "Nodes A-C: pin the station's anchor (fingerprint checked), then import their bundles from the drive"
	for node in A B C; do
		demo_node "$node" trust "$demo/usb/station.akmp" --fingerprint "$fingerprint"
		AKM_PASSPHRASE="$passphrase" demo_node "$node" import --dir "$demo/usb"
	done

	heading "Nodes D-E: the station writes their relationships straight into their secure elements"
	for node in D E; do
		demo_nmm write-se --node "node-$node" --se-module "$DEMO_SOFTHSM" --se-token "akm-node-$node" \
			--se-pin-file "$DEMO_PIN_FILE"
	done

	# --- activation over the network ------------------------------------------
	heading "Station service: akm-nmmd on 127.0.0.1 (the AKM-ACT-1 protocol, docs/protocol.md)"
	local port_file="$demo/nmmd.port"
	rm -f -- "$port_file"
	"$DEMO_NMMD" --module "$DEMO_MODULE" --token "$DEMO_TOKEN" --pin-file "$DEMO_PIN_FILE" \
		--listen 127.0.0.1:0 --port-file "$port_file" --policy "$ROOT/conf/policy.conf" 2>"$demo/nmmd.log" &
	DEMO_NMMD_PID=$!
	trap 'kill "$DEMO_NMMD_PID" 2>/dev/null || true' EXIT
	local tries=0
	until [ -s "$port_file" ]; do
		kill -0 "$DEMO_NMMD_PID" 2>/dev/null || { cat "$demo/nmmd.log" >&2; die "demo: akm-nmmd did not start"; }
		tries=$((tries + 1))
		[ "$tries" -lt 300 ] || die "demo: akm-nmmd did not listen within 30 s"
		sleep 0.1
	done
	local nmm_addr
	nmm_addr=$(head -n 1 "$port_file")
	note "    listening on $nmm_addr (pid $DEMO_NMMD_PID)"

	heading "Nodes A-E activate over the network (each proves its PR on its hardware; the station verifies it)"
	for node in "${nodes[@]}"; do
		demo_node "$node" activate --nmm "$nmm_addr" | tee "$out"
		expect "$out" "status verified" "node $node was not activated and verified"
	done
	heading "Node A checks in, node B reports a security event"
	demo_node A checkin --nmm "$nmm_addr" | tee "$out"
	expect "$out" "checked in" "node A did not check in"
	demo_node B report --nmm "$nmm_addr" --event wrong-pin --count 2 --detail "two wrong PINs at the console" | tee "$out"
	expect "$out" "recorded 1 event" "node B's report was not recorded"
	heading "A node that claims another hardware value is refused (and the station records a clone signal)"
	if demo_node C activate --nmm "$nmm_addr" --hw-id cloned-hardware >"$out" 2>&1; then
		cat "$out"
		die "demo: a node with the wrong hardware value was accepted"
	fi
	sed 's/^/    /' "$out"
	heading "akm-nmmd's policy (conf/policy.conf, rule clone) quarantines node C by itself; only the operator brings it back"
	demo_wait_state node-C suspended
	demo_nmm audit --node node-C | grep -E "clone-signal|policy-" | sed 's/^/    /'
	demo_nmm reinstate node-C --reason "demo: the other hardware value was our own test" | tee "$out"
	demo_wait_state node-C active


	# --- an operational ASR among the nodes -----------------------------------
	heading "Station: ASR group-1 among nodes A-E (docs/asr.md): a key tree, one signed package per member onto the drive"
	mkdir -p -- "$demo/usb-asr"
	demo_nmm asr create group-1 --members node-A,node-B,node-C,node-D,node-E --out "$demo/usb-asr" | tee "$out"
	expect "$out" "5 packages written" "the station did not write the five packages"
	run ls -l "$demo/usb-asr"
	heading "Nodes A-C enroll from the drive (each through akm-pkcs11.so over its own token: the package's keys unwrapped there)"
	for node in A B C; do
		demo_member "$node" enroll --dir "$demo/usb-asr" | tee "$out"
		expect "$out" "enrolled in group-1" "node $node did not enroll"
	done
	heading "Nodes D-E get theirs at check-in instead (akm-nmmd signs a current package for each member that lacks it)"
	for node in D E; do
		demo_member "$node" checkin --nmm "$nmm_addr" | tee "$out"
		expect "$out" "enrolled in group-1" "node $node was not enrolled at check-in"
	done
	heading "Node A seals a message; B-E open it"
	printf 'from node A to group-1\n' >"$demo/asr-plain.txt"
	demo_member A seal --asr group-1 --in "$demo/asr-plain.txt" --out "$demo/asr-1.msg"
	for node in B C D E; do
		demo_member "$node" open --in "$demo/asr-1.msg" | tee "$out"
		expect "$out" "from node A to group-1" "node $node cannot open A's message"
	done
	heading "Station: remove node D (a new generation; one signed rekey message of O(log n) wrapped keys)"
	demo_nmm asr remove-member group-1 --node node-D --out "$demo/usb-asr" | tee "$out"
	expect "$out" "generation 1 -> 2" "removing D did not make generation 2"
	for node in A B C; do
		demo_member "$node" rekey "$demo/usb-asr/group-1.g2.akmr"
	done
	note "Node E catches up at its next check-in:"
	demo_member E checkin --nmm "$nmm_addr" | tee "$out"
	expect "$out" "enrolled in group-1: generation 2" "node E did not get generation 2 at check-in"
	printf 'from node A, after D left\n' >"$demo/asr-plain.txt"
	demo_member A seal --asr group-1 --in "$demo/asr-plain.txt" --out "$demo/asr-2.msg"
	for node in B C E; do
		demo_member "$node" open --in "$demo/asr-2.msg" | tee "$out"
		expect "$out" "after D left" "node $node cannot open the new generation's message"
	done
	note "Node D cannot open it:"
	if demo_member D open --in "$demo/asr-2.msg" >"$out" 2>&1; then
		cat "$out"
		die "demo: the removed node D opened a message of the new generation"
	fi
	sed 's/^/    /' "$out"

	heading "Node F: provisioned, delivered by USB, then added to group-1 (joining rekeys: generation 3)"
	demo_node F hw-id | tee "$out"
	local hw_f
	hw_f=$(tail -n 1 "$out" | awk '{print $NF}')
	printf 'node-F %s\n' "$hw_f" >"$demo/batch-f.txt"
	demo_nmm provision --batch "$demo/batch-f.txt" --delivery passphrase | tee "$out"
	expect "$out" "provisioned 1" "the station did not provision node F"
	mkdir -p -- "$demo/usb-f"
	demo_nmm export --node node-F --out "$demo/usb-f" --protection passphrase --generate-passphrase | tee "$out"
	local passphrase_f
	passphrase_f=$(grep -oE '([A-Za-z0-9]{5}-){5}[A-Za-z0-9]{5}' "$out" | head -n 1 || true)
	[ -n "$passphrase_f" ] || die "demo: node F's passphrase is not in akm-nmm's output"
	demo_node F trust "$demo/usb-f/station.akmp" --fingerprint "$fingerprint"
	AKM_PASSPHRASE="$passphrase_f" demo_node F import --dir "$demo/usb-f"
	demo_nmm asr add-member group-1 --node node-F --out "$demo/usb-asr" | tee "$out"
	expect "$out" "generation 2 -> 3" "adding F did not make generation 3"
	for node in A B C E; do
		demo_member "$node" rekey "$demo/usb-asr/group-1.g3.akmr"
	done
	demo_member F enroll "$demo/usb-asr/group-1.node-F.akma"
	printf 'from node A, F is in\n' >"$demo/asr-plain.txt"
	demo_member A seal --asr group-1 --in "$demo/asr-plain.txt" --out "$demo/asr-3.msg"
	demo_member F open --in "$demo/asr-3.msg" | tee "$out"
	expect "$out" "F is in" "node F cannot open the group's message"
	heading "Node F steps group-1's key forward by itself (a one-way derivation in its token); A follows from F's message"
	demo_member F refresh --asr group-1
	printf 'from node F, one step on\n' >"$demo/asr-plain.txt"
	demo_member F seal --asr group-1 --in "$demo/asr-plain.txt" --out "$demo/asr-4.msg"
	demo_member A open --in "$demo/asr-4.msg" | tee "$out"
	expect "$out" "one step on" "node A cannot open F's next-step message"
	demo_member A asr
	heading "Station: akm-nmm asr show group-1"
	demo_nmm asr show group-1

	# --- set and forget: the station's policy acts by itself ---------------------
	heading "Node E's message is altered on the way: A-C refuse it, and report it at their next check-in"
	printf 'from node E\n' >"$demo/asr-plain.txt"
	demo_member E seal --asr group-1 --in "$demo/asr-plain.txt" --out "$demo/asr-5.msg"
	# the last byte (the tag's) changed: the message still names E as its sender
	python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[-1] ^= 1; open(sys.argv[2], "wb").write(b)' \
		"$demo/asr-5.msg" "$demo/asr-5-forged.msg"
	for node in A B C; do
		if demo_member "$node" open --in "$demo/asr-5-forged.msg" >"$out" 2>&1; then
			cat "$out"
			die "demo: node $node opened an altered message"
		fi
		sed 's/^/    /' "$out"
	done
	for node in A B C; do
		demo_member "$node" checkin --nmm "$nmm_addr" | tee "$out"
		expect "$out" "checked in" "node $node did not check in"
	done
	heading "akm-nmmd's policy (conf/policy.conf, rule forged-messages: 3 within 10 minutes) quarantines E and evicts it"
	demo_wait_state node-E suspended
	note "    the members' reports (each names E as the sender), then what the policy did:"
	"$DEMO_NMM" audit --module "$DEMO_MODULE" --token "$DEMO_TOKEN" --pin-file "$DEMO_PIN_FILE" |
		grep -E "event=asr-forged" | sed 's/^/    /'
	demo_nmm audit --node node-E | grep -E "policy-" | sed 's/^/    /'
	demo_nmm asr show group-1 | tee "$out"
	expect "$out" "generation 4" "evicting E did not make generation 4"
	note "The remaining members get generation 4 at their next check-in; E's check-in is refused:"
	for node in A B C F; do
		demo_member "$node" checkin --nmm "$nmm_addr" | tee "$out"
		expect "$out" "enrolled in group-1: generation 4" "node $node did not get generation 4 at check-in"
	done
	if demo_member E checkin --nmm "$nmm_addr" >"$out" 2>&1; then
		cat "$out"
		die "demo: the quarantined node E checked in"
	fi
	sed 's/^/    /' "$out"
	printf 'from node A, after E was evicted\n' >"$demo/asr-plain.txt"
	demo_member A seal --asr group-1 --in "$demo/asr-plain.txt" --out "$demo/asr-6.msg"
	demo_member F open --in "$demo/asr-6.msg" | tee "$out"
	expect "$out" "after E was evicted" "node F cannot open the new generation's message"
	if demo_member E open --in "$demo/asr-6.msg" >"$out" 2>&1; then
		cat "$out"
		die "demo: the evicted node E opened a message of the new generation"
	fi
	sed 's/^/    /' "$out"


	heading "Station service: stopped (SIGTERM finishes the exchanges in hand)"
	kill -TERM "$DEMO_NMMD_PID"
	wait "$DEMO_NMMD_PID" || die "demo: akm-nmmd did not stop cleanly"
	trap - EXIT
	note "akm-nmmd's log:"
	sed 's/^/    /' "$demo/nmmd.log"

	heading "What each node says about itself (akm-node id)"
	for node in "${nodes[@]}"; do
		demo_node "$node" id | tee "$out"
		expect "$out" "name: node-$node" "node $node does not know its name"
	done

	heading "Station: akm-nmm list"
	demo_nmm list | tee "$out"
	for node in "${nodes[@]}"; do
		expect "$out" "node-$node" "node $node is not listed"
	done
	demo_nmm list --json >"$out"
	[ "$(grep -o '"status":"verified"' "$out" | wc -l)" -eq 6 ] || die "demo: not all six nodes are verified"
	note "(list --json: all six verified: A-E activated over the network, F checked in)"

	heading "Station: node A's record and history (akm-nmm show node-A)"
	demo_nmm show node-A

	heading "Station: the audit trail's hash chain (akm-nmm audit --verify)"
	demo_nmm audit --verify

	heading "Station at a glance (akm-nmm status; akm-nmmd --status-listen serves it as a page)"
	demo_nmm status | tee "$out"
	expect "$out" "1 suspended (quarantined)" "status does not count node E as quarantined"
	expect "$out" "group-1" "status does not show the ASR"

	# --- relationships for applications -----------------------------------------
	local mkrel=("$BUILD_DIR/tools/akm-mkrel" --module "$DEMO_MODULE" --token "$DEMO_TOKEN" --pin-file "$DEMO_PIN_FILE")
	heading "AKM relationships: an operational relationship among A and B (tools/akm-mkrel)"
	run "${mkrel[@]}" --asr node-A,node-B --id ab01 --label asr-1 --station nmm-demo

	heading "A relationship key used by a standard tool: HMAC-SHA256 with asr-1's MAC key (--id ab0102)"
	printf 'a message between node A and node B\n' >"$demo/message.txt"
	demo_p11 "${token[@]}" "${login[@]}" --sign -m SHA256-HMAC --id ab0102 \
		--input-file "$demo/message.txt" --output-file "$demo/message.mac"
	demo_p11 "${token[@]}" "${login[@]}" --verify -m SHA256-HMAC --id ab0102 \
		--input-file "$demo/message.txt" --signature-file "$demo/message.mac" | tee "$out"
	expect "$out" "Signature is valid" "the relationship's MAC does not verify"

	heading "The slots and tokens akm-pkcs11 presents (pkcs11-tool -L)"
	demo_p11 -L | tee "$out"
	expect "$out" "$DEMO_TOKEN" "the demo token is not listed"
	expect "$out" "akm-pkcs11" "the token does not say it is presented by akm-pkcs11"

	heading "The token's mechanisms, passed through from SoftHSM2 (pkcs11-tool -M)"
	demo_p11 "${token[@]}" -M | tee "$out"
	expect "$out" "AES-KEY-GEN" "no AES key generation mechanism listed"
	expect "$out" "ECDSA" "no ECDSA mechanism listed"

	heading "The station token's objects (pkcs11-tool -O --login): the keys above, the station's key pair, each node's PR keys"
	demo_p11 "${token[@]}" -O "${login[@]}" | tee "$out"
	expect "$out" "akm-demo-aes" "the AES key is not listed"
	expect "$out" "akm-demo-ec" "the EC key pair is not listed"
	for node in "${nodes[@]}"; do
		expect "$out" "node-$node/enc" "node $node's PR keys are not listed"
		expect "$out" "node-$node/mac" "node $node's PR keys are not listed"
	done
	expect "$out" "asr-1/mac" "the relationship keys are not listed"

	heading "Node A's secure element (pkcs11-tool on SoftHSM2 directly): its PR keys, identity and pinned station"
	run pkcs11-tool --module "$DEMO_SOFTHSM" --token-label akm-node-A -O "${login[@]}" | tee "$out"
	expect "$out" "node-A/enc" "node A's token does not hold its PR's encryption key"
	expect "$out" "node-A/mac" "node A's token does not hold its PR's MAC key"

	heading "Demo done"
	note "The tokens stay in $demo until the next run.  To use them yourself:"
	note "    export SOFTHSM2_CONF=$SOFTHSM2_CONF AKM_PKCS11_CONF=$AKM_PKCS11_CONF"
	note "    $DEMO_NMM list --module $DEMO_MODULE --token $DEMO_TOKEN --pin-file $DEMO_PIN_FILE"
	note "    pkcs11-tool --module $DEMO_MODULE -O --login --pin $DEMO_USER_PIN"
}

main() {
	local command=${1:-}
	[ $# -gt 0 ] && shift
	case "$command" in
	demo) cmd_demo "$@" ;;
	test) cmd_test "$@" ;;
	test-asan) cmd_test_asan "$@" ;;
	build) cmd_build "$@" ;;
	fuzz) cmd_fuzz "$@" ;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
