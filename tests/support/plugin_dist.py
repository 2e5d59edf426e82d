"""Install a test plugin the way an installed distribution is found: a throw-away dist-info
directory whose `entry_points.txt` names it. Put the returned directory on sys.path, or on
PYTHONPATH for a subprocess."""

from pathlib import Path


def install_plugin(root: Path, name: str, entry_points: dict[str, list[str]]) -> Path:
    """Write `<name>-1.0.dist-info` under `root`; returns `root` (the path entry to add)."""
    dist = root / f"{name.replace('-', '_')}-1.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    groups = "".join(
        f"[{group}]\n" + "".join(f"{line}\n" for line in lines) + "\n"
        for group, lines in entry_points.items()
    )
    (dist / "entry_points.txt").write_text(groups)
    return root
