"""The documentation site builds with warnings as errors, and the build really fails on what a
reader would trip over: a link to a missing page or anchor, a page left out of the navigation.
The README's links into docs/ resolve too (GitHub shows them; MkDocs never sees the README)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's end-of-life notice
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_site_builds_strict(tmp_path: Path) -> None:
    result = build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    # Pages are files, so the site works opened from disk.
    assert (tmp_path / "site" / "reference" / "environment.html").is_file()


@pytest.mark.parametrize(
    ("page", "addition", "complaint"),
    [
        ("index.md", "[gone](kubernetes/nowhere.md)\n", "kubernetes/nowhere.md"),
        ("index.md", "[gone](kubernetes/helm.md#no-such-section)\n", "#no-such-section"),
        ("orphan.md", "# Nobody links here\n", 'not included in the "nav"'),
    ],
    ids=["missing page", "missing anchor", "page not in nav"],
)
def test_the_build_fails_on(tmp_path: Path, page: str, addition: str, complaint: str) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    target = copy / "docs" / page
    target.write_text((target.read_text() if target.exists() else "") + addition)
    result = build(copy, tmp_path / "site")
    assert result.returncode == 1, result.stderr
    assert complaint in result.stderr


def test_the_readme_links_into_docs_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(((?:docs|deploy|charts)/[^)#\s]*)(?:#([^)\s]*))?\)", readme)
    assert len(links) >= 10
    for target, anchor in links:
        path = ROOT / target
        assert path.exists(), f"README links to {target}, which does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", path.read_text(), re.MULTILINE)
            slugs = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}
            assert anchor in slugs, f"README links to {target}#{anchor}: no such heading"
