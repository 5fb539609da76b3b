"""The documentation site: it builds strictly, the README stays a short front door to it, and the
strict build really catches broken links and pages left out of the navigation."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROJECT

README = PROJECT / "README.md"
README_MAX_LINES = 200


def build_site(root: Path, site_dir: Path) -> subprocess.CompletedProcess[str]:
    # `python -m`: run as the `mkdocs` script, its folder (.venv/bin, which holds the `triage`
    # script) would come first on sys.path and hide the package from mkdocstrings.
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def nav_pages(nav: list) -> list[str]:
    pages = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages.extend(nav_pages(value) if isinstance(value, list) else [value])
    return pages


@pytest.mark.slow
def test_site_builds_strictly_with_the_api_reference(tmp_path):
    result = build_site(PROJECT, tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    # Rendered from the docstrings, not written on the page.
    assert "One prediction per text, in order, scored in one vectorised call." in api
    assert "replies_dir" in api
    home = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert 'href="getting-started/"' in home  # README's docs/ links rewritten for the site
    data = (tmp_path / "site" / "data" / "index.html").read_text(encoding="utf-8")
    assert "Provenance" in data and 'href="../labels/"' in data  # the data card, shown, not copied


@pytest.mark.slow
def test_strict_build_fails_on_broken_links_anchors_and_pages_missing_from_nav(tmp_path):
    root = tmp_path / "project"
    shutil.copytree(PROJECT / "docs", root / "docs", symlinks=True)
    for name in ("mkdocs.yml", "README.md", "data/README.md", "reports/index.png"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT / name, root / name)
    (root / "docs" / "orphan.md").write_text("# Not in nav\n", encoding="utf-8")
    models = root / "docs" / "models.md"
    broken = "\n[gone](no-such-page.md) [no anchor](batch.md#no-such-section)\n"
    models.write_text(models.read_text(encoding="utf-8") + broken, encoding="utf-8")

    result = build_site(root, tmp_path / "site")

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    warnings = [line for line in output.splitlines() if line.startswith("WARNING")]
    assert any("'no-such-page.md'" in line for line in warnings), output
    assert any("'batch.md#no-such-section'" in line for line in warnings), output
    assert any('not included in the "nav"' in line for line in warnings), output
    assert "  - orphan.md" in output


def test_readme_is_a_short_front_door():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines (at most {README_MAX_LINES})"


def test_every_docs_page_is_one_click_from_the_readme():
    config = yaml.safe_load((PROJECT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = set(nav_pages(config["nav"])) - {"index.md"}  # index.md is the README itself
    linked = set(re.findall(r"\]\(docs/([\w./-]+\.md)(?:#[\w-]+)?\)", README.read_text(encoding="utf-8")))
    assert pages <= linked, f"pages not linked from README.md: {sorted(pages - linked)}"
    on_disk = {p.relative_to(PROJECT / "docs").as_posix() for p in (PROJECT / "docs").rglob("*.md")}
    assert on_disk == pages | {"index.md"}, "every page under docs/ belongs in mkdocs.yml's nav"
