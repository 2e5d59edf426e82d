"""The README's generated blocks."""

import argparse
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .bots_file import render_bots_file
from .crd import render_crd_spec, render_crd_status
from .environment import render_environment
from .errors import DriftError
from .metrics import render_metrics
from .signing import render_verify_snippet

BLOCKS: dict[str, Callable[[], str]] = {
    "botgateway-crd": render_crd_spec,
    "botgateway-status": render_crd_status,
    "environment": render_environment,
    "bots-file": render_bots_file,
    "metrics": render_metrics,
    "verify-signature": render_verify_snippet,
}

_BLOCK = re.compile(
    r"^(?P<begin><!-- generated: (?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)"
    r"^(?P<end><!-- end generated -->)$",
    re.DOTALL | re.MULTILINE,
)
_BEGIN = re.compile(r"^<!-- generated: .* -->$", re.MULTILINE)
_END = re.compile(r"^<!-- end generated -->$", re.MULTILINE)


def update(text: str, blocks: Mapping[str, Callable[[], str]] = BLOCKS) -> str:
    """`text` with each generated block rewritten; every block must appear exactly once. Markers
    count only on lines of their own, so prose may quote them."""
    seen: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in blocks:
            raise DriftError(f"unknown generated block {name!r}; known: {', '.join(blocks)}")
        seen.append(name)
        return f"{match['begin']}{blocks[name]().rstrip()}\n{match['end']}"

    result = _BLOCK.sub(replace, text)
    missing = [n for n in blocks if n not in seen]
    doubled = sorted({n for n in seen if seen.count(n) > 1})
    if missing or doubled:
        raise DriftError(
            "generated blocks "
            + (f"missing: {', '.join(missing)}" if missing else "")
            + ("; " if missing and doubled else "")
            + (f"repeated: {', '.join(doubled)}" if doubled else "")
        )
    if len(_BEGIN.findall(result)) != len(_END.findall(result)):
        raise DriftError("a `<!-- generated: NAME -->` marker has no `<!-- end generated -->`")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m botgateway.reference",
        description="Render the README's reference sections from the code.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", metavar="FILE", help="rewrite the generated blocks of FILE")
    mode.add_argument("--check", metavar="FILE", help="exit 1 when FILE's blocks are stale")
    args = parser.parse_args(argv)
    try:
        if args.write or args.check:
            path = Path(args.write or args.check)
            text = path.read_text("utf-8")
            updated = update(text)
            if args.check:
                if updated != text:
                    print(f"{path} is out of date: run make docs", file=sys.stderr)
                    return 1
                return 0
            if updated != text:
                path.write_text(updated, "utf-8")
                print(f"{path}: generated blocks rewritten")
            else:
                print(f"{path}: generated blocks already up to date")
            return 0
        for name, render in BLOCKS.items():
            print(f"<!-- generated: {name} -->\n{render().rstrip()}\n<!-- end generated -->\n")
        return 0
    except DriftError as exc:
        print(f"botgateway.reference: {exc}", file=sys.stderr)
        return 2
