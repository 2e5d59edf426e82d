"""Repack an unpacked `docker save` archive so that kind's node-image build sees every image in
it: kind reads only the first metadata file it meets in an archive (`repositories` or
`manifest.json`) and of `manifest.json` only entry 0. So `repositories` is written with every
image's tags, fully qualified (docker.io/..., as containerd names them), and goes first.

    python3 repositories.py UNPACKED_DIR OUT.tar
"""

import json
import sys
import tarfile
from pathlib import Path


def qualified(reference: str) -> tuple[str, str]:
    name, tag = reference.rsplit(":", 1)
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    return name, tag


def repositories(manifest: list[dict[str, object]]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for entry in manifest:
        layers = entry["Layers"]
        assert isinstance(layers, list)
        top = Path(str(layers[-1])).parent.name
        for reference in entry.get("RepoTags") or []:  # type: ignore[union-attr]
            name, tag = qualified(str(reference))
            found.setdefault(name, {})[tag] = top
    return found


def main(unpacked: Path, out: Path) -> None:
    manifest = json.loads((unpacked / "manifest.json").read_text())
    (unpacked / "repositories").write_text(json.dumps(repositories(manifest)))
    first = ["repositories", "manifest.json"]
    with tarfile.open(out, "w") as archive:
        for name in first:
            archive.add(unpacked / name, arcname=name)
        for path in sorted(unpacked.iterdir()):
            if path.name not in first:
                archive.add(path, arcname=path.name)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
