#!/usr/bin/env python3
"""Fails when an import in src/ runs back up the layer order.

The order, highest first. A module may use any module below it and none above; modules on one
line are peers of one layer and may use each other. `src/lib.rs` says the same in prose.
"""
import re
import sys
from pathlib import Path

LAYERS = [
    ["main", "app", "operator", "telemetry", "malloc_tuning"],  # wiring and the operator's commands
    ["http"],      # tower layers around the router; reads what the api layer extracts
    ["api"],       # handlers, extractors, views, OpenAPI: HTTP in, a service call, HTTP out
    ["service"],   # the rules; no HTTP types, no driver types
    ["context"],   # the shared state services take (settings, store, hasher, keys, caches)
    ["mail"],      # mail templates and the SMTP transport (the outbox worker is a service)
    ["security"],  # hashing, tokens, secrets, client IP: primitives with small state
    ["error"],     # one AppError and its HTTP mapping
    ["store"],     # one trait per collection, a module per backend
    ["metrics"],   # counters every layer above may bump
    ["config"],    # typed settings
    ["domain"],    # the types everything shares; imports nothing of the crate
    ["files"],     # private directories and files; imports nothing of the crate
]
RANK = {module: rank for rank, line in enumerate(LAYERS) for module in line}


def top_level_paths(use_tree: str):
    """The first segment of every path in a `use crate::...` tree (`{a::b, c::{d}}` gives a, c)."""
    use_tree = use_tree.strip()
    if not use_tree.startswith("{"):
        yield re.split(r"::|\s", use_tree, maxsplit=1)[0]
        return
    depth, item = 0, ""
    for ch in use_tree[1:-1] + ",":
        if ch == "," and depth == 0:
            if item.strip():
                yield re.split(r"::|\s|\{", item.strip(), maxsplit=1)[0]
            item = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        item += ch


def module_of(path: Path) -> str:
    parts = path.relative_to("src").parts
    return parts[0].removesuffix(".rs")


def strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", text)


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    src = root / "src"
    problems = []
    for path in sorted(src.rglob("*.rs")):
        rel = path.relative_to(root)
        if rel.name == "lib.rs":
            continue
        module = module_of(rel)
        if module not in RANK:
            problems.append(f"{rel}: module `{module}` has no place in scripts/check-layers.py")
            continue
        text = strip_comments(path.read_text())
        for match in re.finditer(r"crate::(\{[^;]*?\}|\w+)", text, re.S):
            for used in top_level_paths(match.group(1)):
                if used in RANK and RANK[used] < RANK[module]:
                    line = text[: match.start()].count("\n") + 1
                    problems.append(
                        f"{rel}:{line}: `{module}` uses `{used}`, which sits above it"
                    )
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"layer check: {len(problems)} import(s) run back up the layer order", file=sys.stderr)
        return 1
    print("==> layer check: every import in src/ runs down the layer order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
