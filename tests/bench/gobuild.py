"""Go binaries the bench runs, built into `.cache/bench/` and rebuilt only when their sources
change (a digest of the sources is kept beside each binary)."""

import hashlib
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

Say = Callable[[str], None]


def sources_digest(sources: Sequence[bytes]) -> str:
    digest = hashlib.sha256()
    for source in sources:
        digest.update(len(source).to_bytes(8, "big"))
        digest.update(source)
    return digest.hexdigest()


def cached_build(
    binary: Path, sources: Sequence[bytes], build: Callable[[], None], say: Say
) -> Path:
    """`binary`, built by `build()` unless it exists and was built from these `sources`."""
    stamp = binary.with_name(binary.name + ".sources-sha256")
    digest = sources_digest(sources)
    if binary.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        say(f"{binary}: up to date")
        return binary
    say(f"building {binary} (a first build downloads its Go modules) ...")
    binary.parent.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    build()
    if not binary.exists():
        raise RuntimeError(f"the build did not produce {binary}")
    stamp.write_text(digest + "\n")
    say(f"built {binary}")
    return binary


def go_build(module_dir: Path, binary: Path) -> None:
    """`go build` of the module in `module_dir`; Go's progress (module downloads) shows on
    stderr as it goes."""
    result = subprocess.run(
        ["go", "build", "-o", str(binary.resolve()), "."], cwd=module_dir, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"`go build` failed in {module_dir} (exit {result.returncode})")
