"""MkDocs hooks of the documentation site (``mkdocs.yml`` -> ``hooks:``); everything stays offline.

- **Shipped instances**: one page per ``instances/*/instance.yaml`` (settings, table sizes, and the
  instance's README) plus an index, generated at build time so that new instances appear by themselves.
- **Tutorials**: ``notebooks/*.ipynb`` converted to pages *without executing them* (Markdown cells as
  they are, code cells as Python blocks, saved outputs as text or PNG images).
- **Math without JavaScript**: ``pymdownx.arithmatex`` marks ``$...$`` and ``$$...$$``; this hook turns
  the LaTeX into MathML (``latex2mathml``) that browsers render natively; no CDN, no MathJax.
- **Python API**: one mkdocstrings block per name of ``network_opt.__all__`` (at its real module,
  e.g. ``network_opt.runs.pipeline.solve``: the facade imports its names lazily), grouped.
- Sphinx roles left in docstrings (``:class:`X```) are shown as plain code on the API page.
- Pages in ``docs/`` missing from ``nav`` are appended under "More", so that new pages are reachable.

Links in generated pages that point outside the site become plain text (``mkdocs build --strict``
would otherwise fail on them); links to another README or docs page are pointed at its page.
"""

from __future__ import annotations

import html
import json
import logging
import posixpath
import re
from pathlib import Path
from typing import Any

import yaml
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
INSTANCES = ROOT / "instances"
NOTEBOOKS = ROOT / "notebooks"
LOG = logging.getLogger("mkdocs.hooks.site")

_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)(\s+\"[^\"]*\")?\)")
_INLINE_MATH = re.compile(r'<span class="arithmatex">\\\((.*?)\\\)</span>', re.S)
_BLOCK_MATH = re.compile(r'<div class="arithmatex">\\\[(.*?)\\\]</div>', re.S)
_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj):(<code>)~?")


def _instances() -> list[Path]:
    return sorted(p.parent for p in INSTANCES.glob("*/instance.yaml"))


def _notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb")) if NOTEBOOKS.is_dir() else []


# ---------------------------------------------------------------- navigation


def _nav_files(nav: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(nav, str):
        found.add(nav)
    elif isinstance(nav, list):
        for item in nav:
            found |= _nav_files(item)
    elif isinstance(nav, dict):
        for value in nav.values():
            found |= _nav_files(value)
    return found


def _title(md: Path) -> str:
    for line in md.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip().strip("`")
    return md.stem.replace("-", " ").capitalize()


def on_config(config: Any) -> Any:
    """Fill the generated sections of ``nav`` and append pages that ``nav`` does not list."""
    nav = config.nav or []
    for item in nav:
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            if value == "instances/index.md":
                item[key] = [{"Overview": "instances/index.md"},
                             *({p.name: f"instances/{p.name}.md"} for p in _instances())]
            elif value == "tutorials/index.md":
                item[key] = [{"Overview": "tutorials/index.md"},
                             *({_notebook_title(p): f"tutorials/{p.stem}.md"} for p in _notebooks())]
    listed = _nav_files(nav)
    docs = Path(config.docs_dir)
    extra = [{_title(p): p.name} for p in sorted(docs.glob("*.md")) if p.name not in listed]
    if extra:
        nav.append({"More": extra})
    config.nav = nav
    return config


# ---------------------------------------------------------------- links in generated pages


def _site_page(repo_path: str, files: Files) -> str | None:
    """The site page standing for a repository file, or None."""
    if repo_path.startswith("docs/") and files.get_file_from_path(repo_path[5:]) is not None:
        return repo_path[5:]
    parts = repo_path.split("/")
    if len(parts) == 3 and parts[0] == "instances" and parts[2] == "README.md":
        return f"instances/{parts[1]}.md"
    if len(parts) == 2 and parts[0] == "instances" and (INSTANCES / parts[1] / "instance.yaml").is_file():
        return f"instances/{parts[1]}.md"
    if len(parts) == 2 and parts[0] == "notebooks" and parts[1].endswith(".ipynb"):
        return f"tutorials/{parts[1][:-6]}.md"
    return None


def fix_links(markdown: str, origin: str, page: str, files: Files) -> str:
    """Point relative links of a repository file (``origin``, e.g. ``instances/toy/README.md``) shown as
    the site page ``page`` at the matching site page; other relative links become plain text."""

    def repl(m: re.Match[str]) -> str:
        bang, text, target = m.group(1), m.group(2), m.group(3)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith(("#", "/")):
            return m.group(0)
        path, _, anchor = target.partition("#")
        repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(origin), path))
        site = _site_page(repo_path.rstrip("/"), files)
        if site is not None and not bang:
            rel = posixpath.relpath(site, posixpath.dirname(page))
            return f"[{text}]({rel}{'#' + anchor if anchor else ''})"
        if bang:
            return f"*(image: {text or path})*"
        return f"{text} (`{repo_path}`)" if text != repo_path else f"`{repo_path}`"

    return _LINK.sub(repl, markdown)


# ---------------------------------------------------------------- instance pages


def _rows(path: Path) -> int:
    with open(path, encoding="utf-8-sig") as fh:
        return max(sum(1 for line in fh if line.strip()) - 1, 0)


def _instance_page(folder: Path, files: Files) -> str:
    data = yaml.safe_load((folder / "instance.yaml").read_text(encoding="utf-8-sig")) or {}
    periods = data.get("periods", [])
    years = [p.get("year") if isinstance(p, dict) else p for p in periods]
    tables = data.get("tables", {}) or {}
    sizes = ", ".join(f"{name} ({_rows(folder / rel)})" for name, rel in tables.items() if (folder / rel).is_file())
    policies = data.get("policies") or {}
    out = [f"# {folder.name}\n\n"]
    if data.get("description"):
        out.append(f"{' '.join(str(data['description']).split())}\n\n")
    out.append("| instance | |\n|---|---|\n")
    out.append(f"| folder | `instances/{folder.name}` |\n")
    out.append(f"| periods | {', '.join(str(y) for y in years)} |\n")
    out.append(f"| currency | {data.get('currency', 'EUR')} |\n")
    out.append(f"| tables (rows) | {sizes} |\n")
    if policies:
        shown = "; ".join(f"{jur}: {', '.join(v) if isinstance(v, list) else v}" for jur, v in policies.items())
        out.append(f"| policy presets | {shown} |\n")
    if data.get("scenarios"):
        out.append(f"| scenarios | {', '.join(str(s) for s in data['scenarios'])} |\n")
    out.append(f"\n```bash\nnetwork-opt validate instances/{folder.name}\n"
               f"network-opt solve instances/{folder.name} --out results/{folder.name}\n"
               f"network-opt convert instances/{folder.name} --to xlsx --out {folder.name}.xlsx\n```\n\n")
    readme = folder / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8")
        text = re.sub(r"^(#+) ", r"#\1 ", text, flags=re.M)  # the README's headings one level down
        out.append(fix_links(text, f"instances/{folder.name}/README.md", f"instances/{folder.name}.md", files))
    else:
        out.append("*This instance has no README yet.*\n")
    return "".join(out)


def _instances_index() -> str:
    out = ["# Shipped instances\n\n",
           "Each folder under `instances/` is an instance (`instance.yaml` and CSV tables); the pages below "
           "are generated from them when the site is built.\n\n",
           "| instance | periods | sites | supply rows | description |\n|---|---|---|---|---|\n"]
    for folder in _instances():
        data = yaml.safe_load((folder / "instance.yaml").read_text(encoding="utf-8-sig")) or {}
        years = [p.get("year") if isinstance(p, dict) else p for p in data.get("periods", [])]
        tables = data.get("tables", {}) or {}
        count = {name: _rows(folder / tables[name]) if name in tables and (folder / tables[name]).is_file() else 0
                 for name in ("sites", "supply")}
        desc = " ".join(str(data.get("description", "")).split())
        first = desc.split(". ")[0].rstrip(".") + "." if desc else ""
        span = f"{years[0]}-{years[-1]}" if len(years) > 1 else (str(years[0]) if years else "")
        out.append(f"| [{folder.name}]({folder.name}.md) | {span} | {count['sites']} | {count['supply']} | "
                   f"{first.replace('|', '/')} |\n")
    return "".join(out)


# ---------------------------------------------------------------- notebooks (never executed)


def _notebook_title(path: Path) -> str:
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return path.stem
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem.replace("_", " ").replace("-", " ")


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _fence(text: str, lang: str = "") -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}\n\n"


def notebook_markdown(path: Path, files: Files) -> str:
    """A notebook as Markdown, from its saved content only."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    note = (f"*Notebook `notebooks/{path.name}`, shown as saved (not executed while building the site). "
            f"Run it with `jupyter lab notebooks/{path.name}`.*\n\n")
    out: list[str] = []
    for cell in nb.get("cells", []):
        source = _text(cell.get("source", ""))
        if cell.get("cell_type") == "markdown":
            out.append(source.rstrip() + "\n\n")
        elif cell.get("cell_type") == "code" and source.strip():
            out.append(_fence(source, "python"))
            for output in cell.get("outputs", []):
                out.append(_output(output))
    body = "".join(out).lstrip()
    if body.startswith("# "):
        title, _, rest = body.partition("\n")
        body = f"{title}\n\n{note}{rest.lstrip()}"
    else:
        body = f"# {_notebook_title(path)}\n\n{note}{body}"
    return fix_links(body, f"notebooks/{path.name}", f"tutorials/{path.stem}.md", files)


def _output(output: dict[str, Any]) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return _fence(_text(output.get("text", "")), "text")
    if kind == "error":
        return _fence(f"{output.get('ename', 'Error')}: {output.get('evalue', '')}", "text")
    data = output.get("data", {})
    if "image/png" in data:
        return f'<img alt="output" src="data:image/png;base64,{_text(data["image/png"]).strip()}">\n\n'
    if "image/svg+xml" in data:
        return _text(data["image/svg+xml"]) + "\n\n"
    if "text/plain" in data:
        return _fence(_text(data["text/plain"]), "text")
    return ""


def _tutorials_index() -> str:
    out = ["# Tutorials\n\n",
           "Worked examples as Jupyter notebooks in `notebooks/`, shown here as they were saved (the site "
           "build never runs them).\n\n"]
    books = _notebooks()
    if not books:
        out.append("No notebooks yet: they appear here once `notebooks/*.ipynb` exist.\n")
    for path in books:
        out.append(f"- [{_notebook_title(path)}]({path.stem}.md) (`notebooks/{path.name}`)\n")
    return "".join(out)


# ---------------------------------------------------------------- the Python API page

API_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Load and check an instance", ("load", "validate", "Instance")),
    ("Solve", ("solve", "SolveOptions", "network_opt.results.tables.Solution", "write_results")),
    ("Many solves", ("compare", "sweep")),
    ("Maps and charts", ("plot",)),
    ("Excel", ("network_opt.inputs.convert.convert", "network_opt.inputs.convert.write_template",
               "network_opt.results.xlsx.write_results_xlsx")),
    ("Errors", ("InputError", "Problem")),
)

API_INTRO = """# Python API

`import network_opt as no`. Paths are `str` or `pathlib.Path`; an instance is a folder, its
`instance.yaml`, or an `.xlsx` workbook ([Excel workbooks](excel.md)). Invalid input raises
`InputError`, whose `problems` list every error as `FILE:ROW:COLUMN: message`. The package ships a
`py.typed` marker, so type checkers use its annotations. This page is generated from the
docstrings of everything `network_opt` exports (`network_opt.__all__`).

"""


def _api_path(name: str) -> str | None:
    """The documented object's real dotted path (``solve`` -> ``network_opt.runs.pipeline.solve``)."""
    import importlib

    import network_opt

    if "." in name:
        module, _, attr = name.rpartition(".")
        try:
            getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            return None
        return name
    obj = getattr(network_opt, name, None)
    if obj is None:
        return None
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    return f"{module}.{qualname}" if module and qualname else None


def api_page() -> str:
    """Markdown with one mkdocstrings block per exported object, grouped."""
    import network_opt

    exported = list(getattr(network_opt, "__all__", []))
    out = [API_INTRO]
    seen: set[str] = set()
    groups = [*API_GROUPS, ("More", tuple(n for n in exported if not any(n in g for _, g in API_GROUPS)))]
    for title, names in groups:
        blocks = []
        for name in names:
            if name not in exported and "." not in name:
                continue
            path = _api_path(name)
            if path is None or path in seen:
                continue
            seen.add(path)
            blocks.append(f"::: {path}\n    options:\n      heading_level: 3\n\n")
        if blocks:
            out.append(f"## {title}\n\n{''.join(blocks)}")
    return "".join(out)


# ---------------------------------------------------------------- hooks


def on_files(files: Files, config: Any) -> Files:
    """Add the generated pages: the Python API, the shipped instances and the tutorials."""
    files.append(File.generated(config, "api.md", content=api_page()))
    files.append(File.generated(config, "instances/index.md", content=_instances_index()))
    for folder in _instances():
        files.append(File.generated(config, f"instances/{folder.name}.md", content=_instance_page(folder, files)))
    files.append(File.generated(config, "tutorials/index.md", content=_tutorials_index()))
    for path in _notebooks():
        files.append(File.generated(config, f"tutorials/{path.stem}.md", content=notebook_markdown(path, files)))
    return files


def separate_display_math(markdown: str) -> str:
    """Blank lines around ``$$ ... $$`` blocks (written right under a paragraph line, they would be
    read as inline ``$`` math), outside code fences."""
    out: list[str] = []
    fence: str | None = None
    in_math = False
    for line in markdown.split("\n"):
        stripped = line.strip()
        if fence is None and stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
        elif fence is not None and stripped.startswith(fence):
            fence = None
        elif fence is None and stripped.startswith("$$") and not in_math:
            if out and out[-1].strip():
                out.append("")
            in_math = not (len(stripped) > 2 and stripped.endswith("$$"))
            out.append(line)
            if not in_math:
                out.append("")
            continue
        elif fence is None and in_math and stripped.endswith("$$"):
            in_math = False
            out.append(line)
            out.append("")
            continue
        out.append(line)
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Display math as blocks."""
    return separate_display_math(markdown)


def _mathml(latex: str, display: str) -> str:
    from latex2mathml.converter import convert

    source = html.unescape(latex).strip()
    try:
        return convert(source, display=display)
    except Exception as exc:  # any parse failure: show the LaTeX as code, and fail a strict build
        LOG.warning("cannot convert math to MathML (%s): %s", exc, source)
        return f"<code>{html.escape(source)}</code>"


def on_page_content(content: str, page: Any, config: Any, files: Files) -> str:
    """LaTeX -> MathML; Sphinx roles -> plain code."""
    content = _BLOCK_MATH.sub(lambda m: f'<div class="math">{_mathml(m.group(1), "block")}</div>', content)
    content = _INLINE_MATH.sub(lambda m: _mathml(m.group(1), "inline"), content)
    return _ROLE.sub(r"\1", content)
