#!/bin/bash
# The man pages (docs/man/): each formats with groff's man macros with every
# warning on (-ww) and prints nothing on stderr, has NAME, SYNOPSIS,
# DESCRIPTION and SEE ALSO sections, and its .TH names the file.  Skipped
# (77) without groff.
# Usage: check-man.sh SOURCE_DIR
set -u
src=$1
command -v groff >/dev/null || { echo "SKIP: groff is not installed" >&2; exit 77; }
fail=0
n=0
for page in "$src"/docs/man/*.[1-8]; do
    n=$((n + 1))
    name=$(basename "$page")
    warnings=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$page" 2>&1)
    if [[ -n $warnings ]]; then
        echo "FAIL: $name: groff -ww:" >&2
        echo "$warnings" | sed 's/^/    /' >&2
        fail=1
    fi
    for section in NAME SYNOPSIS DESCRIPTION 'SEE ALSO'; do
        grep -q "^\.SH \"\?$section\"\?\$" "$page" || { echo "FAIL: $name: no $section section" >&2; fail=1; }
    done
    title=${name%.*} sect=${name##*.}
    upper=$(echo "$title" | tr '[:lower:]' '[:upper:]')
    grep -q "^\.TH $upper $sect " "$page" || { echo "FAIL: $name: .TH is not '$upper $sect'" >&2; fail=1; }
done
((n == 6)) || { echo "FAIL: $n pages in docs/man, expected 6" >&2; fail=1; }
((fail == 0)) && echo "ok: $n man pages format without warnings"
exit $fail
