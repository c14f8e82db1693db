"""The import-graph contract of the package layout (issue 14; picture in docs/architecture.md).

``network_opt`` is split into packages per stage of the data path. Layers, lowest first::

    common < inputs < datasets < model < solver < results < runs < plotting < app < cli < docs_tools

A module may import only from its own package or from a lower layer: arrows point down the data path
and never close a circle. ``network_opt/__init__.py`` (the public facade) and ``__main__.py`` sit on
top and may import anything; no layer imports the facade. Imports inside functions count (they run
at some point and tie the packages together just the same); imports only under
``if TYPE_CHECKING:`` do not.

Also pinned here: ``import network_opt`` and ``network-opt --help`` / ``--version`` stay light (no
pyomo, highspy, matplotlib, geopandas), and no attribute of a package shadows a submodule of the
same name (``network_opt.solve`` must not be a function in one process and a module in another).

The static graph is built with grimp (``pip install 'grimp>=3'``, in the ``dev`` extra) from the
source tree, without cache files. grimp cannot see ``importlib.import_module(...)``; the calls made
while every module is imported (in a fresh process) are added to the graph.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the modules themselves are imported below, skipping the tests when missing
    from grimp import ImportGraph
    from networkx import DiGraph  # type: ignore[import-untyped]

grimp = pytest.importorskip("grimp", minversion="3")
nx = pytest.importorskip("networkx")

PACKAGE = "network_opt"
ROOT = Path(__file__).resolve().parents[1]

#: The packages of network_opt, lowest layer first (docs/architecture.md).
LAYERS = ("common", "inputs", "datasets", "model", "solver", "results", "runs", "plotting", "app", "cli",
          "docs_tools")
#: Modules outside the layers that may import anything (lazily, for the facade).
EXEMPT = (PACKAGE, f"{PACKAGE}.__main__")
#: Must not be imported by ``import network_opt`` nor by ``network-opt --help`` / ``--version``.
HEAVY = ("matplotlib", "geopandas", "pyomo", "highspy")
#: Circles shown per strongly connected group of modules (the whole group is always listed).
CYCLES_SHOWN = 6


# --- the graph ----------------------------------------------------------------------------------


@cache
def graph() -> ImportGraph:
    """The static import graph of network_opt (internal modules; TYPE_CHECKING imports left out)."""
    return grimp.build_graph(PACKAGE, exclude_type_checking_imports=True, cache_dir=None)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """``python -c CODE`` in a fresh process at the root of the source tree."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=600)


_RUNTIME = textwrap.dedent(f"""
    import importlib, json, pkgutil, sys
    dynamic, errors, shadows = [], [], []
    _real = importlib.import_module
    def _recording(name, package=None):
        frame = sys._getframe(1)
        caller = frame.f_globals.get('__name__', '')
        target = importlib.util.resolve_name(name, package) if name.startswith('.') else name
        if caller.startswith('{PACKAGE}') and target.startswith('{PACKAGE}'):
            dynamic.append((caller, target, frame.f_lineno))
        return _real(name, package)
    importlib.import_module = _recording
    import importlib.util
    import {PACKAGE}
    def walk(pkg):
        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
            if info.name == '__main__':
                continue  # runs the program when imported
            full = pkg.__name__ + '.' + info.name
            try:
                mod = importlib.import_module(full)
            except BaseException as exc:  # noqa: BLE001
                errors.append(f'{{full}}: {{type(exc).__name__}}: {{exc}}')
                continue
            if info.ispkg:
                walk(mod)
    walk({PACKAGE})
    importlib.import_module = _real
    for name, mod in sorted(sys.modules.items()):
        if not name.startswith('{PACKAGE}.') or mod is None:
            continue
        parent, _, leaf = name.rpartition('.')
        got = getattr(sys.modules[parent], leaf, None)
        if got is not mod:
            origin = getattr(got, '__module__', None)
            shadows.append(f'{{parent}}.{{leaf}} is the {{type(got).__name__}} '
                           f'{{getattr(got, "__qualname__", repr(got))}}'
                           + (f' (defined in {{origin}})' if origin else '') + f', not the module {{name}}')
    print('@@' + json.dumps({{'dynamic': sorted(set(dynamic)), 'errors': errors, 'shadows': shadows}}))
""")


@cache
def runtime() -> dict[str, list]:
    """Import every module of network_opt in a fresh process (the facade first, then each package's
    submodules depth first; ``__main__`` skipped) and report: the ``importlib.import_module`` calls
    between modules of network_opt (caller, target, line), the modules that failed to import, and
    the package attributes that are not the submodule of that name."""
    proc = run_python(_RUNTIME)
    tail = [line for line in proc.stdout.splitlines() if line.startswith("@@")]
    if not tail:
        pytest.fail(f"importing every module of {PACKAGE} crashed:\n{proc.stderr[-3000:]}", pytrace=False)
    return json.loads(tail[-1][2:])


@cache
def digraph() -> DiGraph:
    """Static imports (grimp) plus the dynamic ones seen at import time."""
    g = graph()
    dg = nx.DiGraph()
    dg.add_nodes_from(g.modules)
    for importer in g.modules:
        for imported in g.find_modules_directly_imported_by(importer):
            dg.add_edge(importer, imported)
    for importer, imported, _line in runtime()["dynamic"]:
        if importer != imported and importer in g.modules and imported in g.modules:
            dg.add_edge(importer, imported)
    return dg


def import_lines(importer: str, imported: str) -> list[str]:
    """``importer:LINE: statement`` for each place ``importer`` imports ``imported``."""
    details = graph().get_import_details(importer=importer, imported=imported)
    lines = [f"{importer}:{d['line_number']}: {d['line_contents'].strip()}" for d in details]
    lines += [f"{importer}:{line}: importlib.import_module({imported!r})  # dynamic, at import time"
              for a, b, line in runtime()["dynamic"] if (a, b) == (importer, imported)]
    return lines or [f"{importer}: imports {imported}"]


def layer_of(module: str) -> int | None:
    """Index in LAYERS of the package holding ``module``; None for the facade and for strays."""
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != PACKAGE:
        return None
    try:
        return LAYERS.index(parts[1])
    except ValueError:
        return None


def describe_cycle(cycle: list[str]) -> str:
    """``a -> b -> c -> a`` and, under it, the lines of the imports that close the circle."""
    steps = [*cycle, cycle[0]]
    lines = [" -> ".join(steps)]
    for a, b in itertools.pairwise(steps):
        lines += [f"      {line}" for line in import_lines(a, b)[:2]]
    return "\n".join(lines)


def test_graph_is_built_from_the_source_tree():
    """Guard: the package under test is the source tree's (not a stale installed copy), and every
    module of it imports."""
    spec = __import__("importlib.util").util.find_spec(PACKAGE)
    assert spec is not None and spec.origin is not None
    assert Path(spec.origin).resolve().parent == ROOT / PACKAGE, f"{PACKAGE} found at {spec.origin}, not in {ROOT}"
    assert len(graph().modules) > 20
    errors = runtime()["errors"]
    if errors:
        pytest.fail("modules that fail to import:\n  " + "\n  ".join(errors), pytrace=False)


# --- (a) no circle ------------------------------------------------------------------------------


def test_no_import_cycles():
    """No module of network_opt imports itself through other modules (the facade included).

    Reported per strongly connected group of modules: its members, then the shortest circles
    through it, each import with its file line."""
    dg = digraph()
    groups = sorted((sorted(c) for c in nx.strongly_connected_components(dg) if len(c) > 1),
                    key=lambda c: (-len(c), c))
    if not groups:
        return
    report = []
    for members in groups:
        sub = dg.subgraph(members)
        cycles: list[list[str]] = []
        for bound in range(2, min(len(members), 6) + 1):  # short circles first: they are the ones to cut
            cycles = list(nx.simple_cycles(sub, length_bound=bound))
            if len(cycles) >= CYCLES_SHOWN:
                break
        for c in cycles:  # start each circle at its smallest module name, for a stable report
            i = c.index(min(c))
            c[:] = c[i:] + c[:i]
        cycles.sort(key=lambda c: (len(c), c))
        shown = "\n".join(f"  {describe_cycle(c)}" for c in cycles[:CYCLES_SHOWN])
        more = f"\n  ... and {len(cycles) - CYCLES_SHOWN} more" if len(cycles) > CYCLES_SHOWN else ""
        report.append(f"{len(members)} modules in a circle: {', '.join(members)}\n{shown}{more}")
    pytest.fail(f"{len(groups)} import cycle group(s):\n\n" + "\n\n".join(report), pytrace=False)


# --- (b) the layer rule -------------------------------------------------------------------------


def test_every_module_is_in_a_layer():
    """Each module lives in one of the layer packages (or is the facade / ``__main__``)."""
    strays = sorted(m for m in graph().modules if m not in EXEMPT and layer_of(m) is None)
    if strays:
        pytest.fail(f"{len(strays)} module(s) of {PACKAGE} outside the layer packages ({', '.join(LAYERS)}); "
                    "move them, or add their package to LAYERS here and to docs/architecture.md:\n  "
                    + "\n  ".join(strays), pytrace=False)


def test_imports_point_down_the_layers():
    """A module in layer i imports only from its own package or from layers below i (imports inside
    functions count; TYPE_CHECKING-only imports do not). Importing the facade ``network_opt`` from a
    layer is an upward import too (``__version__`` and the like belong in a low layer)."""
    dg = digraph()
    bad: dict[tuple[str, str], list[str]] = defaultdict(list)
    for importer in sorted(dg.nodes):
        mine = layer_of(importer)
        if importer in EXEMPT or mine is None:
            continue  # strays: reported by test_every_module_is_in_a_layer
        for imported in sorted(dg.successors(importer)):
            theirs = layer_of(imported)
            if imported in EXEMPT:
                target = "the facade"
            elif theirs is not None and theirs > mine:
                target = LAYERS[theirs]
            else:
                continue
            bad[(LAYERS[mine], target)] += import_lines(importer, imported)
    if bad:
        parts = [f"{low} -> {high} ({len(lines)}):\n    " + "\n    ".join(lines)
                 for (low, high), lines in sorted(bad.items())]
        pytest.fail(f"{sum(map(len, bad.values()))} upward import(s); layers, lowest first: "
                    f"{' < '.join(LAYERS)}\n  " + "\n  ".join(parts), pytrace=False)


# --- (c) a light `import network_opt`, (e) a light `network-opt --help` / `--version` -----------


@cache
def entry_point() -> tuple[str, str]:
    """(module, function) of the ``network-opt`` console script: pyproject.toml's [project.scripts]."""
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("scripts", {})
    module, _, func = scripts.get("network-opt", f"{PACKAGE}.cli:main").partition(":")
    return module, func or "main"


def heavy_imports(action: str) -> tuple[int | None, dict[str, str]]:
    """Run ``action`` (Python statements) in a fresh process; return its exit code (SystemExit
    caught) and, for each HEAVY module it imported, the chain of network_opt lines that imported it
    (``network_opt/__init__.py:8 > network_opt/api.py:10``)."""
    code = textwrap.dedent(f"""
        import importlib.abc, json, sys, traceback
        heavy = {HEAVY!r}
        seen = {{}}
        class Tracer(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                top = name.partition('.')[0]
                if top in heavy and top not in seen:
                    chain = [f"{PACKAGE}/{{f.filename.rpartition('/{PACKAGE}/')[2]}}:{{f.lineno}}"
                             for f in traceback.extract_stack() if '/{PACKAGE}/' in f.filename]
                    seen[top] = ' > '.join(chain) or '(not from {PACKAGE})'
                return None
        sys.meta_path.insert(0, Tracer())
        status = 0
        try:
            __ACTION__
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) or exc.code is None else 1
        sys.stdout.flush()
        heavy = {{k: v for k, v in seen.items() if k in sys.modules}}
        print('@@' + json.dumps({{'status': status or 0, 'heavy': heavy}}))
    """).replace("    __ACTION__", textwrap.indent(action, "    "))
    proc = run_python(code)
    tail = [line for line in proc.stdout.splitlines() if line.startswith("@@")]
    if not tail:
        pytest.fail(f"crashed:\n{proc.stderr[-3000:]}", pytrace=False)
    result = json.loads(tail[-1][2:])
    if result["status"]:
        pytest.fail(f"exit status {result['status']}:\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}", pytrace=False)
    return result["status"], result["heavy"]


def test_import_network_opt_is_light():
    """``import network_opt`` does not import matplotlib, geopandas, pyomo or highspy (they load on
    first use); issue 14 asks for under 1 s (measured by benchmarks/import_time.py, not asserted)."""
    _, heavy = heavy_imports(f"import {PACKAGE}")
    if heavy:
        pytest.fail(f"import {PACKAGE} imports {', '.join(sorted(heavy))}:\n  "
                    + "\n  ".join(f"{k}: {v}" for k, v in sorted(heavy.items())), pytrace=False)


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_cli_help_and_version_are_light(flag):
    """``network-opt --help`` and ``--version`` answer (exit 0) without importing pyomo, highspy,
    matplotlib or geopandas. The console script's function runs in a fresh process with ``sys.argv``
    set; ``--version`` may read the HiGHS and Pyomo versions from the installed metadata
    (``importlib.metadata.version``), not import them."""
    module, func = entry_point()
    _, heavy = heavy_imports(f"sys.argv = ['network-opt', {flag!r}]\n"
                             f"import importlib\nimportlib.import_module({module!r}).{func}()")
    if heavy:
        pytest.fail(f"network-opt {flag} imports {', '.join(sorted(heavy))}:\n  "
                    + "\n  ".join(f"{k}: {v}" for k, v in sorted(heavy.items())), pytrace=False)


# --- (d) no attribute shadows a submodule -------------------------------------------------------


def test_no_attribute_shadows_a_submodule():
    """For each package of network_opt and each of its submodules ``name``: once the submodule is
    imported, ``getattr(package, name)`` is that module, not a function or class bound over it
    (checked in a fresh process that imports the facade, then every module)."""
    shadows = runtime()["shadows"]
    if shadows:
        pytest.fail(f"{len(shadows)} attribute(s) shadow a submodule (rename the function or the module):\n  "
                    + "\n  ".join(shadows), pytrace=False)


def test_facade_all_names_resolve():
    """Every name in ``network_opt.__all__`` resolves (a lazy facade must not lose one in the move)."""
    code = (f"import {PACKAGE}, json; "
            f"print('@@' + json.dumps([n for n in {PACKAGE}.__all__ if not hasattr({PACKAGE}, n)]))")
    proc = run_python(code)
    tail = [line for line in proc.stdout.splitlines() if line.startswith("@@")]
    assert tail, proc.stderr[-3000:]
    missing = json.loads(tail[-1][2:])
    assert not missing, f"{PACKAGE}.__all__ names that do not resolve: {missing}"

