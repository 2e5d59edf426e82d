"""The documentation's generated blocks, wherever in `docs/` each one sits."""

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


def update_pages(
    pages: Mapping[str, str], blocks: Mapping[str, Callable[[], str]] = BLOCKS
) -> dict[str, str]:
    """Each page's text with its generated blocks rewritten. Every block must appear exactly once
    across all pages, so moving a block to another page is an edit of the pages only. Markers
    count only on lines of their own, so prose may quote them."""
    seen: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in blocks:
            raise DriftError(f"unknown generated block {name!r}; known: {', '.join(blocks)}")
        seen.append(name)
        return f"{match['begin']}{blocks[name]().rstrip()}\n{match['end']}"

    updated = {page: _BLOCK.sub(replace, text) for page, text in pages.items()}
    missing = [n for n in blocks if n not in seen]
    doubled = sorted({n for n in seen if seen.count(n) > 1})
    if missing or doubled:
        raise DriftError(
            "generated blocks "
            + (f"missing: {', '.join(missing)}" if missing else "")
            + ("; " if missing and doubled else "")
            + (f"repeated: {', '.join(doubled)}" if doubled else "")
        )
    for page, text in updated.items():
        if len(_BEGIN.findall(text)) != len(_END.findall(text)):
            raise DriftError(
                f"{page}: a `<!-- generated: NAME -->` marker has no `<!-- end generated -->`"
            )
    return updated


def update(text: str, blocks: Mapping[str, Callable[[], str]] = BLOCKS) -> str:
    """One text holding every block (see `update_pages`)."""
    return update_pages({"text": text}, blocks)["text"]


def markdown_files(path: Path) -> list[Path]:
    """`path` itself, or every Markdown file under the folder `path`."""
    return sorted(path.rglob("*.md")) if path.is_dir() else [path]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m botgateway.reference",
        description="Render the documentation's reference sections from the code.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--write", metavar="PATH", help="rewrite the generated blocks of PATH (a file or a folder)"
    )
    mode.add_argument("--check", metavar="PATH", help="exit 1 when PATH's blocks are stale")
    args = parser.parse_args(argv)
    try:
        if args.write or args.check:
            files = markdown_files(Path(args.write or args.check))
            pages = {str(f): f.read_text("utf-8") for f in files}
            updated = update_pages(pages)
            stale = [name for name, text in pages.items() if updated[name] != text]
            if args.check:
                for name in stale:
                    print(f"{name} is out of date: run make docs", file=sys.stderr)
                return 1 if stale else 0
            for name in stale:
                Path(name).write_text(updated[name], "utf-8")
                print(f"{name}: generated blocks rewritten")
            if not stale:
                print(f"{args.write}: generated blocks already up to date")
            return 0
        for name, render in BLOCKS.items():
            print(f"<!-- generated: {name} -->\n{render().rstrip()}\n<!-- end generated -->\n")
        return 0
    except (DriftError, OSError) as exc:
        print(f"botgateway.reference: {exc}", file=sys.stderr)
        return 2
