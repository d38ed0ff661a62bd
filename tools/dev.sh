#!/usr/bin/env bash
# tools/dev.sh — set up, build, and run akm-pkcs11's demo or its tests.
#
#   bash tools/dev.sh demo        throwaway SoftHSM2 token, used through akm-pkcs11.so
#   bash tools/dev.sh test        the full test suite (meson test)
#   bash tools/dev.sh test-asan   the suite again, built with ASan + UBSan
#   bash tools/dev.sh build       only install what is missing and build
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
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BUILD_DIR=${BUILD_DIR:-build}
ASAN_BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}
# Build folders may be given relative to the source tree or absolute.
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
case "$ASAN_BUILD_DIR" in /*) ;; *) ASAN_BUILD_DIR="$ROOT/$ASAN_BUILD_DIR" ;; esac
DEMO_DIR=${DEMO_DIR:-demo}

# What building, testing and the demo need on Debian 12.
DEBIAN_PACKAGES=(
	build-essential meson ninja-build pkg-config check
	libp11-kit-dev p11-kit softhsm2 opensc libengine-pkcs11-openssl
	openssl libssl-dev libsqlite3-dev libsodium-dev valgrind util-linux
	libqrencode-dev libpng-dev zbar-tools clang libclang-rt-14-dev
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
	sed -n '2,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
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

# demo_p11 <pkcs11-tool arguments...>: pkcs11-tool against akm-pkcs11.so.
demo_p11() {
	run pkcs11-tool --module "$DEMO_MODULE" "$@"
}

# expect <file> <text> <what>: fails the demo unless <file> contains <text>.
expect() {
	grep -qF -- "$2" "$1" || die "demo: $3 (\"$2\" not in the output above)"
}

cmd_demo() {
	# The folder is deleted and recreated: keep it a plain folder of the tree.
	case "/$DEMO_DIR/" in
	*/../* | */./* | //) die "DEMO_DIR must name a folder inside the source tree, not \"$DEMO_DIR\"" ;;
	esac
	cmd_build
	DEMO_MODULE="$BUILD_DIR/src/akm-pkcs11.so"
	local akm_conf_template="$BUILD_DIR/conf/akm-pkcs11-build.conf"
	[ -f "$DEMO_MODULE" ] || die "the build made no $DEMO_MODULE"
	[ -f "$akm_conf_template" ] || die "the build made no $akm_conf_template"

	local demo="$ROOT/$DEMO_DIR"
	heading "A fresh demo folder: $demo"
	rm -rf -- "$demo"
	mkdir -p -- "$demo/tokens"
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

	heading "A throwaway SoftHSM2 token \"$DEMO_TOKEN\" (SO PIN $DEMO_SO_PIN, user PIN $DEMO_USER_PIN)"
	run softhsm2-util --init-token --free --label "$DEMO_TOKEN" \
		--so-pin "$DEMO_SO_PIN" --pin "$DEMO_USER_PIN"

	local out="$demo/pkcs11-tool.out"
	local token=(--token-label "$DEMO_TOKEN")
	local login=(--login --pin "$DEMO_USER_PIN")

	heading "Through akm-pkcs11.so: generate an AES-256 key \"akm-demo-aes\""
	note "(pkcs11-tool then tries to read the key's value: CKR_ATTRIBUTE_SENSITIVE is the right answer for a sensitive key)"
	demo_p11 "${token[@]}" "${login[@]}" --keygen --key-type AES:32 \
		--label akm-demo-aes --id a1 --sensitive

	heading "Through akm-pkcs11.so: generate an EC P-256 key pair \"akm-demo-ec\""
	demo_p11 "${token[@]}" "${login[@]}" --keypairgen --key-type EC:prime256v1 \
		--label akm-demo-ec --id e1 --usage-sign

	local mkrel=("$BUILD_DIR/tools/akm-mkrel" --module "$DEMO_MODULE" --token "$DEMO_TOKEN" --pin "$DEMO_USER_PIN")
	heading "AKM relationships: provisioning relationships with nodes A and B (tools/akm-mkrel)"
	run "${mkrel[@]}" --pr node-A --hw hw-serial-A --id 0a01 --label pr-node-A --station nmm-demo
	run "${mkrel[@]}" --pr node-B --hw hw-serial-B --id 0b01 --label pr-node-B --station nmm-demo
	heading "AKM relationships: an operational relationship among A and B"
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

	heading "The token's objects (pkcs11-tool -O --login): the keys above and each relationship's two keys"
	demo_p11 "${token[@]}" -O "${login[@]}" | tee "$out"
	expect "$out" "akm-demo-aes" "the AES key is not listed"
	expect "$out" "akm-demo-ec" "the EC key pair is not listed"
	expect "$out" "pr-node-A/enc" "the relationship keys are not listed"
	expect "$out" "asr-1/mac" "the relationship keys are not listed"

	heading "Demo done"
	note "The token stays in $demo until the next run.  To use it yourself:"
	note "    export SOFTHSM2_CONF=$SOFTHSM2_CONF AKM_PKCS11_CONF=$AKM_PKCS11_CONF"
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
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
