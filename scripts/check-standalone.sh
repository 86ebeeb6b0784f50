#!/usr/bin/env bash
# Fails when a tracked file refers to a path outside this repository: a parent directory's
# shared folder, or a bare citation of a contract, design or style page that is not this
# repository's own page under docs/ (a citation with the docs/ prefix is fine; one without it
# names nothing a fork has). Prints each hit as file:line.
#
# Skipped: bench/results/ (raw benchmark output), lock files, binary files, and this script.
set -euo pipefail

cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"

# Tracked files, minus the skipped ones and any deleted from the work tree.
files=()
while IFS= read -r -d '' file; do
    [[ -f $file ]] && files+=("$file")
done < <(git ls-files -z -- . \
    ':(exclude)bench/results/' \
    ':(exclude,glob)**/*.lock' \
    ':(exclude,glob)**/package-lock.json' \
    ':(exclude)scripts/check-standalone.sh')

# Candidate lines (grep -I leaves binary files out), then the exact rule: a citation preceded by
# `docs/` is removed before the line is judged, so only references outside the repository remain.
hits=$(
    printf '%s\0' "${files[@]}" |
        xargs -0 -r grep -I -n -H -E -e '\.\./shared' -e '(API|DESIGN|STYLE)\.md' -- 2>/dev/null |
        awk '
            {
                first = index($0, ":")
                file = substr($0, 1, first - 1)
                rest = substr($0, first + 1)
                second = index(rest, ":")
                line = substr(rest, 1, second - 1)
                text = substr(rest, second + 1)
                judged = text
                gsub(/docs\/(API|DESIGN|STYLE)\.md/, "", judged)
                if (judged ~ /\.\.\/shared/ ||
                    judged ~ /shared\/(API|DESIGN|STYLE)\.md/ ||
                    judged ~ /(^|[^A-Za-z0-9_])(API|DESIGN|STYLE)\.md([^A-Za-z0-9_]|$)/) {
                    gsub(/^[ \t]+/, "", text)
                    if (length(text) > 140) text = substr(text, 1, 137) "..."
                    print file ":" line ": " text
                }
            }
        '
) || true

if [[ -n $hits ]]; then
    printf '%s\n' "$hits"
    count=$(printf '%s\n' "$hits" | wc -l | tr -d ' ')
    files_hit=$(printf '%s\n' "$hits" | cut -d: -f1 | sort -u | wc -l | tr -d ' ')
    echo "==> stand-alone check: $count reference(s) outside the repository in $files_hit file(s)" >&2
    exit 1
fi
echo "==> stand-alone check: no reference outside the repository"
