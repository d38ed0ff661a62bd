#!/bin/bash
# The bash completion of akm-nmm and akm-node (conf/completion/): sourced in
# a plain bash (no bash-completion package needed), `complete -p` names each
# function, and a few completions give what docs/akm-nmm.md and
# docs/akm-node.md say: the commands, the ASR sub-commands, a command's
# options and the values of --delivery.  Skipped (77) without bash.
# Usage: check-completion.sh SOURCE_DIR
set -u
src=$1
command -v bash >/dev/null || exit 77
exec bash --norc --noprofile -c '
src=$1
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
expect _akm_nmm "init anchor provision enroll approve reject revoke export write-se verify list show audit asr tokens" akm-nmm ""
expect _akm_nmm "create add-member remove-member package rekey list show" akm-nmm --module m.so asr ""
expect _akm_nmm "--delivery" akm-nmm provision --del
expect _akm_nmm "node-key passphrase" akm-nmm provision --delivery ""
expect _akm_nmm "--protection" akm-nmm --token t export --prot
expect _akm_nmm "--verbose --version" akm-nmm --ver
expect _akm_node "import" akm-node imp
expect _akm_node "--passphrase-file --pin-file" akm-node import --p
expect _akm_node "checkin" akm-node --json che
((fail == 0)) && echo "ok: completion of akm-nmm and akm-node"
exit $fail
' check-completion "$src"
