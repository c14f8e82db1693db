"""The documentation site builds with warnings as errors, offline, and its generated pages are current."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import network_opt
from network_opt.docs_tools.docs_cli import render as render_cli

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"


def test_cli_reference_is_generated_from_the_cli() -> None:
    committed = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert committed == render_cli(), "run: python -m network_opt.docs_tools.docs_cli docs/cli.md"


def test_cli_reference_lists_every_command_and_option() -> None:
    text = render_cli()
    for command in ("validate", "solve", "convert", "template", "policies", "generate"):
        assert f"## `{command}`" in text
    assert "| `--to` | `xlsx` or `folder` | required |" in text
    assert "| `--mip-gap` | number | `0.0001` |" in text


def test_public_api_is_typed() -> None:
    assert (Path(network_opt.__file__).parent / "py.typed").is_file()
    for name in ("load", "validate", "solve", "compare", "sweep", "plot"):
        func = getattr(network_opt, name)
        assert callable(func) and name in network_opt.__all__, name
        hints = func.__annotations__
        assert "return" in hints and len(hints) >= 2, f"{name} lacks type hints"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out),
                             "--config-file", str(ROOT / "mkdocs.yml")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    return out


def test_site_builds_strict_with_every_section(site: Path) -> None:
    for page in ("index.html", "getting-started.html", "formulation.html", "instance-format.html", "excel.html",
                 "cli.html", "policies.html", "api.html", "instances/index.html", "tutorials/index.html"):
        assert (site / page).is_file(), page
    for folder in sorted(p.parent for p in (ROOT / "instances").glob("*/instance.yaml")):
        assert (site / "instances" / f"{folder.name}.html").is_file(), folder.name
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert (site / "tutorials" / f"{notebook.stem}.html").is_file(), notebook.name


def test_site_is_offline(site: Path) -> None:
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        remote = re.findall(r"<(?:script|link|img)[^>]+(?:src|href)=\"(https?:)?//[^\"]+\"", text)
        assert not remote, f"{page.name} loads {remote}"
        assert "fonts.googleapis" not in text and "mathjax" not in text.lower()


def test_equations_are_mathml_and_api_covers_every_export(site: Path) -> None:
    formulation = (site / "formulation.html").read_text(encoding="utf-8")
    assert formulation.count('display="block"') >= 15  # the constraints and the objective
    assert "arithmatex" not in formulation and "$$" not in formulation
    api = (site / "api.html").read_text(encoding="utf-8")
    for name in ("load", "validate", "solve", "compare", "sweep", "plot", "write_results"):
        assert re.search(rf'<h3 id="network_opt\.[\w.]*\.{name}"', api), name


def _hooks() -> object:
    import importlib.util

    spec = importlib.util.spec_from_file_location("site_hooks", DOCS / "hooks" / "site.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notebooks_become_pages_without_running(tmp_path: Path) -> None:
    import json

    from mkdocs.structure.files import Files

    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Toy walk-through\n", "See [the toy](../instances/toy) "
                                                             "and [format](../docs/instance-format.md)."]},
        {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": "raise SystemExit('never run')",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["saved output\n"]},
                     {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgo=\n"}}]},
    ]}
    path = tmp_path / "toy.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    hooks = _hooks()
    from mkdocs.structure.files import File

    files = Files([File("instance-format.md", str(DOCS), "/tmp/x", use_directory_urls=False)])
    text = hooks.notebook_markdown(path, files)  # type: ignore[attr-defined]
    assert text.startswith("# Toy walk-through")
    assert "[the toy](../instances/toy.md)" in text and "[format](../instance-format.md)" in text
    assert "```python\nraise SystemExit('never run')\n```" in text
    assert "saved output" in text and "data:image/png;base64,iVBORw0KGgo=" in text


def test_display_math_is_separated_from_the_text_above() -> None:
    hooks = _hooks()
    md = "Balance:\n$$x = 1$$\nnext\n```\n$$ not math $$\n```\n"
    assert hooks.separate_display_math(md) == (  # type: ignore[attr-defined]
        "Balance:\n\n$$x = 1$$\n\nnext\n```\n$$ not math $$\n```\n")
