#!/bin/bash
# The bash completion of akm-nmm and akm-node (conf/completion/): sourced in
# a plain bash (no bash-completion package needed), `complete -p` names each
# function, and a few completions give what docs/akm-nmm.md and
# docs/akm-node.md say: the commands, the ASR sub-commands, a command's
# options and the values of --delivery.  With the build folder, it also
# checks the completion against the built tools: every command their --help
# lists completes, and so does every option each command's --help names
# (a few options named only in prose are listed below).  Skipped (77)
# without bash.
# Usage: check-completion.sh SOURCE_DIR [BUILD_DIR]
set -u
src=$1
command -v bash >/dev/null || exit 77
exec bash --norc --noprofile -c '
src=$1 build=${2:-}
fail=0
source "$src/conf/completion/akm-nmm" && source "$src/conf/completion/akm-node" || exit 1
[[ $(complete -p akm-nmm) == "complete -F _akm_nmm akm-nmm" ]] || { echo "FAIL: complete -p akm-nmm: $(complete -p akm-nmm 2>&1)"; fail=1; }
[[ $(complete -p akm-node) == "complete -F _akm_node akm-node" ]] || { echo "FAIL: complete -p akm-node: $(complete -p akm-node 2>&1)"; fail=1; }
# expect FUNCTION "WANTED REPLIES" WORDS...: the replies for the last word.
expect() {
    local fn=$1 want=$2
    shift 2
    COMP_WORDS=("$@") COMP_CWORD=$(($# - 1)) COMP_LINE="$*" COMP_POINT=${#COMP_LINE} COMPREPLY=()
    "$fn"
    local got="${COMPREPLY[*]}"
    [[ $got == "$want" ]] || { echo "FAIL: [$*]: got \"$got\", want \"$want\""; fail=1; }
}
expect _akm_nmm "export" akm-nmm ex
expect _akm_nmm "init anchor provision enroll approve reject revoke reinstate export write-se verify list show audit status asr policy tokens" akm-nmm ""
expect _akm_nmm "test" akm-nmm policy ""
expect _akm_nmm "--since" akm-nmm policy test p.conf --si
expect _akm_nmm "create add-member remove-member package rekey list show" akm-nmm --module m.so asr ""
expect _akm_nmm "--delivery" akm-nmm provision --del
expect _akm_nmm "node-key passphrase" akm-nmm provision --delivery ""
expect _akm_nmm "--protection" akm-nmm --token t export --prot
expect _akm_nmm "--verbose --version" akm-nmm --ver
expect _akm_node "import" akm-node imp
expect _akm_node "--passphrase-file --pin-file" akm-node import --p
expect _akm_node "checkin" akm-node --json che

# The built tools against the completion.
replies() { # FUNCTION WORDS...: the replies for the last word, one a line
    local fn=$1
    shift
    COMP_WORDS=("$@") COMP_CWORD=$(($# - 1)) COMP_LINE="$*" COMP_POINT=${#COMP_LINE} COMPREPLY=()
    "$fn"
    printf "%s\n" "${COMPREPLY[@]}"
}
common=" --module --token --pin-file --json --verbose --quiet --help --version "
# Named in prose only: export --help names the provisioned --delivery,
# verify --help the --se-* family.
prose=" export:--delivery verify:--se "
check_options() { # FUNCTION TOOL WORDS...: every option named by the --help of the words completes
    local fn=$1 tool=$2 opt
    shift 2
    local opts=" $(replies "$fn" "$tool" "$@" "--" | tr "\n" " ") "
    for opt in $("$build/tools/$tool" "$@" --help 2>&1 | sed "/^Common options/,\$d" | grep -o -- "--[a-z0-9-]*[a-z0-9]" | sort -u); do
        [[ $common == *" $opt "* || $prose == *" $*:$opt "* || $opts == *" $opt "* ]] ||
            { echo "FAIL: $tool $*: option $opt (in its --help) does not complete"; fail=1; }
    done
}
check_tool() { # TOOL FUNCTION COMMANDS...
    local tool=$1 fn=$2 cmd
    shift 2
    local completed=" $(replies "$fn" "$tool" "" | tr "\n" " ") "
    for cmd in "$@"; do
        [[ $completed == *" $cmd "* ]] || { echo "FAIL: $tool: command $cmd (in --help) does not complete"; fail=1; }
        [[ $tool == akm-nmm && $cmd == asr ]] || check_options "$fn" "$tool" "$cmd"
    done
}
if [[ -n $build && -x $build/tools/akm-nmm && -x $build/tools/akm-node ]]; then
    check_tool akm-nmm _akm_nmm $("$build/tools/akm-nmm" --help 2>&1 | sed -n "s/^  akm-nmm \([a-z-]*\).*/\1/p" | sort -u)
    check_tool akm-node _akm_node $("$build/tools/akm-node" --help 2>&1 | sed -n "/^Commands:/,/^[^ ]/s/^  \([a-z-]*\)  .*/\1/p")
    asr=$("$build/tools/akm-nmm" --help 2>&1 | sed -n "s/^  akm-nmm asr (\([a-z|-]*\)).*/\1/p" | tr "|" " ")
    completed=" $(replies _akm_nmm akm-nmm asr "" | tr "\n" " ") "
    union=" "
    for sub in $asr; do
        [[ $completed == *" $sub "* ]] || { echo "FAIL: akm-nmm asr $sub (in --help) does not complete"; fail=1; }
        union+="$(replies _akm_nmm akm-nmm asr "$sub" "--" | tr "\n" " ") "
    done
    # One help for all the sub-commands: each option it names completes for one of them.
    for opt in $("$build/tools/akm-nmm" asr --help 2>&1 | sed "/^Common options/,\$d" | grep -o -- "--[a-z0-9-]*[a-z0-9]" | sort -u); do
        [[ $common == *" $opt "* || $union == *" $opt "* ]] ||
            { echo "FAIL: akm-nmm asr: option $opt (in its --help) completes for no sub-command"; fail=1; }
    done
    [[ -n $asr ]] || { echo "FAIL: no asr sub-commands found in akm-nmm --help"; fail=1; }
fi
((fail == 0)) && echo "ok: completion of akm-nmm and akm-node${build:+ (checked against the built tools)}"
exit $fail
' check-completion "$src" "${2:-}"
