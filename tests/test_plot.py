"""Maps, charts, the interactive HTML map (in headless Chromium), the GeoPackage and `network-opt map`.

Expected numbers are worked out by hand in the docstrings: the toy's from instances/toy/README.md,
the small plan's from :func:`plan_instance`.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from builders import existing_recyclers, lanes, of_type, one_material_tables, site, write_instance
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.patches import FancyArrowPatch, Rectangle
from typer.testing import CliRunner

import network_opt as no
from network_opt.cli.app import app
from network_opt.plotting import charts, maps
from network_opt.plotting.figures import save_figure
from network_opt.plotting.interactive import write_html_map
from network_opt.results.gpkg import write_geopackage
from network_opt.results.read import NODE_COLUMNS, PlotResult, ResultsError, as_result, from_folder

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]


def plan_instance(folder: Path) -> Path:
    """Two periods (2025, 2027) in Germany. C1 (Berlin) has 100 t/yr of fit packs, C2 (Munich)
    40 t/yr of unfit ones. Candidate refurbisher R (Leipzig, test yield 0.8, opening 10) sells
    80 t/yr at 100 kWh/t x 0.8 x 1/kWh = 80/t to market M (Dresden) and rejects 20 t/yr to the
    existing pre-processor B (Frankfurt, black mass yield 0.5), which also takes C2's 40 t. The
    80 t sold in 2025 return after 2 years: 80 t of returns to B in 2027. Black mass to the
    existing refiner RF (Hamburg): (40 + 20) x 0.5 = 30 t in 2025, (40 + 20 + 80) x 0.5 = 70 t in
    2027. Candidate recycler H (Nuremberg) costs 1e6 to open and stays closed.

    Flow lines (origin, destination, commodity): 2025 C1>R 100, R>M 80, C2>B 40, B>RF 30, R>B 20;
    2027 the same with B>RF 70, plus M>B 80. Open: R (new), B and RF (existing)."""
    tables: dict[str, list[dict[str, Any]]] = {
        "sites": [site("C1", "collection_point", "DE", 52.52, 13.40),
                  site("C2", "collection_point", "DE", 48.14, 11.58),
                  site("S1", "facility", "DE", 51.34, 12.37), site("S2", "facility", "DE", 50.11, 8.68),
                  site("S3", "facility", "DE", 53.55, 9.99), site("S4", "facility", "DE", 49.45, 11.08),
                  site("MK", "market", "DE", 51.05, 13.74)],
        **one_material_tables(periods=(2025, 2027)),
        "supply": [{"site": c, "period": p, "chemistry": "X", "tonnes": t, "fit_share": f}
                   for p in (2025, 2027) for c, t, f in (("C1", 100, 1.0), ("C2", 40, 0.0))],
        "technologies": [{"id": "MECH", "process": "mechanical", "recycling_efficiency": 0.3, "black_mass_yield": 0.5},
                         {"id": "HYDRO", "process": "hydrometallurgical", "recycling_efficiency": 0.8}],
        "technology_yields": [{"technology": "HYDRO", "material": "Li", "recovery_yield": 0.9}],
        "facilities": [
            {"id": "R", "site": "S1", "kind": "refurbisher", "technology": "", "status": "candidate",
             "test_yield": 0.8},
            {"id": "B", "site": "S2", "kind": "preprocessor", "technology": "MECH", "status": "existing"},
            {"id": "RF", "site": "S3", "kind": "refiner", "technology": "HYDRO", "status": "existing"},
            {"id": "H", "site": "S4", "kind": "recycler", "technology": "HYDRO", "status": "candidate"},
        ],
        "facility_levels": [{"facility": "R", "level": "a", "capacity_t": 500, "opening_cost": 10},
                            {"facility": "B", "level": "a", "capacity_t": 1000},
                            {"facility": "RF", "level": "a", "capacity_t": 1000},
                            {"facility": "H", "level": "a", "capacity_t": 1000, "opening_cost": 1e6}],
        "markets": [{"id": "M", "site": "MK", "application": "telecom_backup", "chemistries": "X"}],
        "market_demand": [{"market": "M", "period": p, "demand_kwh": 1e6, "price_per_kwh": 1.0} for p in (2025, 2027)],
        "second_life_returns": [{"application": "telecom_backup", "after_years": 2, "share": 1.0}],
        "lanes": lanes(("C1", "S1", 0), ("C1", "S2", 0), ("C2", "S2", 0), ("C2", "S4", 0), ("S1", "MK", 0),
                       ("S1", "S2", 0), ("MK", "S2", 0), ("S2", "S3", 0)),
    }
    tables["chemistry_materials"] = [{"chemistry": "X", "material": "Li", "kg_per_t": 10, "black_mass_kg_per_t": 18}]
    return write_instance(folder, tables, periods=[2025, 2027])


PLAN_LINES = {2025: {("C1", "R", "eol_packs"): 100, ("R", "M", "second_life_packs"): 80, ("C2", "B", "eol_packs"): 40,
                     ("B", "RF", "black_mass"): 30, ("R", "B", "rejects"): 20},
              2027: {("C1", "R", "eol_packs"): 100, ("R", "M", "second_life_packs"): 80, ("C2", "B", "eol_packs"): 40,
                     ("B", "RF", "black_mass"): 70, ("R", "B", "rejects"): 20, ("M", "B", "returns"): 80}}


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Any:
    sol = no.solve(plan_instance(tmp_path_factory.mktemp("plan")))
    assert sol.status == "optimal"
    return sol


@pytest.fixture(scope="module")
def plan_dir(plan: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return no.write_results(plan, tmp_path_factory.mktemp("plan-results") / "out")


@pytest.fixture(scope="module")
def toy() -> Any:
    sol = no.solve(ROOT / "instances" / "toy")
    assert sol.status == "optimal"
    return sol


def _flow_artists(fig: Any) -> dict[str, FancyArrowPatch]:
    return {p.get_gid(): p for ax in fig.axes for p in ax.patches if str(p.get_gid()).startswith("flow:")}


def _markers(fig: Any, prefix: str) -> int:
    return sum(len(c.get_offsets()) for ax in fig.axes for c in ax.collections if str(c.get_gid()).startswith(prefix))


def test_the_plan_solves_as_worked_out_by_hand(plan: Any) -> None:
    f = plan["flows"]
    for period, lines in PLAN_LINES.items():
        got = f.loc[f["period"] == period].groupby(["origin", "destination", "commodity"])["tonnes"].sum().to_dict()
        assert got == pytest.approx(lines)


@pytest.mark.parametrize(("period", "min_flow", "lines"), [(2025, 0.0, 5), (2025, 25.0, 4), (2027, 25.0, 5),
                                                           (2027, 90.0, 1)])
def test_flow_map_draws_one_line_per_flow_above_the_threshold(plan: Any, period: int, min_flow: float,
                                                             lines: int) -> None:
    fig = maps.flow_map(plan, period, min_flow=min_flow)
    drawn = _flow_artists(fig)
    expected = {k for k, t in PLAN_LINES[period].items() if t >= min_flow}
    assert len(drawn) == lines == len(expected)
    assert {tuple(g[len("flow:"):].replace(">", ":", 1).split(":")) for g in drawn} == expected


def test_flow_map_draws_one_marker_per_open_facility(plan: Any) -> None:
    """R (new refurbisher), B and RF (existing) are open; H is a closed candidate."""
    fig = maps.flow_map(plan, 2025)
    assert _markers(fig, "facilities:") == 3
    assert _markers(fig, "facilities:refurbisher:new") == 1
    assert _markers(fig, "facilities:preprocessor:existing") == 1
    assert _markers(fig, "facilities:refiner:existing") == 1
    assert _markers(fig, "candidates") == 1
    assert _markers(fig, "collection_points") == 2
    assert _markers(fig, "markets") == 1
    title = fig.axes[0].get_title(loc="left")
    assert "2025" in title and "scenario base" in title and "3 facilities open (1 new)" in title


def test_widths_are_proportional_to_tonnes_with_shared_scales(plan: Any) -> None:
    """Small multiples over 2025 and 2027 share extent and scales: the largest flow (100 t) is
    MAX_FLOW_PT wide in both panels; 80 t is 0.8 of it; B>RF is 30 t in 2025 and 70 t in 2027."""
    fig = maps.flow_maps(plan)
    panels = [ax for ax in fig.axes if ax.get_title(loc="left")]
    assert len(panels) == 2
    assert panels[0].get_xlim() == panels[1].get_xlim() and panels[0].get_ylim() == panels[1].get_ylim()
    # matplotlib's stubs leave out the ``tail_width`` that ArrowStyle.Simple sets
    widths = [{p.get_gid(): of_type(FancyArrowPatch, p).get_arrowstyle().tail_width  # type: ignore[attr-defined]
               for p in ax.patches if str(p.get_gid()).startswith("flow:")} for ax in panels]
    for w in widths:
        assert w["flow:C1>R:eol_packs"] == pytest.approx(maps.MAX_FLOW_PT)
        assert w["flow:R>M:second_life_packs"] == pytest.approx(0.8 * maps.MAX_FLOW_PT)
    assert widths[0]["flow:B>RF:black_mass"] == pytest.approx(0.3 * maps.MAX_FLOW_PT)
    assert widths[1]["flow:B>RF:black_mass"] == pytest.approx(0.7 * maps.MAX_FLOW_PT)


def test_scenarios_side_by_side(plan: Any) -> None:
    fig = maps.flow_maps({"base": plan, "variant": as_result(plan, "variant")}, [2027])
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")]
    assert [t.splitlines()[0] for t in titles] == ["scenario base · 2027", "scenario variant · 2027"]


def _crowded_result(n: int = 24) -> PlotResult:
    """``n`` open recyclers within a few km of each other, each with a long name."""
    rng = np.random.default_rng(3)
    lon, lat = 10 + rng.uniform(0, 0.3, n), 50 + rng.uniform(0, 0.3, n)
    nodes = pd.DataFrame({"node": [f"F{i}" for i in range(n)], "site": [f"S{i}" for i in range(n)],
                          "role": "recycler", "name": [f"Plant number {i}" for i in range(n)], "kind": "recycler",
                          "technology": "HYDRO", "status": "existing", "application": "", "jurisdiction": "DE",
                          "region": "", "longitude": lon, "latitude": lat})[NODE_COLUMNS]
    fac = pd.DataFrame({"facility": nodes["node"], "period": 2025, "open": True, "capacity_t": 1000.0,
                        "throughput_t": 0.0, "utilisation": 0.0, "level": "a", "investment": 0.0})
    flows = pd.DataFrame(columns=["origin", "destination", "commodity", "chemistry", "grade", "period", "tonnes",
                                  "distance_km", "cost"])
    return PlotResult("crowded", "base", "EUR", [2025], nodes, {"facilities": fac, "flows": flows})


def test_labels_do_not_overlap() -> None:
    fig = maps.flow_map(_crowded_result(), labels=50)
    ax = fig.axes[0]
    renderer = of_type(FigureCanvasAgg, fig.canvas).get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts if str(t.get_gid()).startswith("label:")]
    assert 1 <= len(boxes) < 24  # some placed, the rest left out rather than piled up
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b)


def test_projection_and_basemap_suit_the_region() -> None:
    """Shanghai/Wuhan: the shipped China provinces under an Albers conic; Sao Paulo/Rio: no
    shipped file covers it, so only the low-resolution countries (when pyogrio ships them) under
    a Lambert azimuthal projection (near the equator the conic does not suit)."""
    from network_opt.plotting.geo import lowres_countries_path, map_frame

    china = map_frame(np.array([121.47, 114.31]), np.array([31.23, 30.59]))
    china_operation = china.crs.coordinate_operation
    assert china_operation is not None and china_operation.method_name == "Albers Equal Area"
    assert len(china.detail) > 0
    brazil = map_frame(np.array([-46.63, -43.17]), np.array([-23.55, -22.91]))
    assert len(brazil.detail) == 0
    assert (len(brazil.context) > 0) == (lowres_countries_path() is not None)
    equator = map_frame(np.array([36.8, 39.3]), np.array([-1.3, 0.5]), basemap=False)
    equator_operation = equator.crs.coordinate_operation
    assert equator_operation is not None and equator_operation.method_name == "Lambert Azimuthal Equal Area"
    # the frame holds every point, with a margin
    x, y = china.project(np.array([121.47, 114.31]), np.array([31.23, 30.59]))
    assert (china.xlim[0] < x.min() < x.max() < china.xlim[1]) and (china.ylim[0] < y.min() < y.max() < china.ylim[1])


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_png_is_written_and_not_blank(plan: Any, tmp_path: Path) -> None:
    from matplotlib.image import imread

    path = save_figure(maps.flow_map(plan), tmp_path / "map.png")
    width, height = _png_size(path)
    assert width > 800 and height > 500 and path.stat().st_size > 30_000
    pixels = imread(path)[..., :3]
    assert pixels.std() > 0.05  # not a blank image
    colours = {tuple(np.round(c, 1)) for c in pixels.reshape(-1, 3)[::97]}
    assert len(colours) > 10


def test_cost_chart_net_cost_is_the_toy_objective(toy: Any) -> None:
    """instances/toy/README.md: net cost -1,790,500 EUR, shown in M EUR."""
    fig = charts.cost_chart(toy)
    net = next(line for line in fig.axes[0].lines if line.get_gid() == "net")
    assert np.asarray(net.get_ydata())[0] == pytest.approx(-1.7905)
    bars = {p.get_gid(): of_type(Rectangle, p).get_height() for p in fig.axes[0].patches}
    assert bars["cost:processing"] == pytest.approx(0.98)
    assert bars["cost:material_revenue"] == pytest.approx(-1.3315)


def test_capacity_chart_by_kind_and_jurisdiction(toy: Any) -> None:
    """Toy: recyclers 1,000 (REC-EAST) + 1,500 (REC-WEST) t/yr, refurbisher 500 t/yr."""
    fig = charts.capacity_chart(toy)
    bars = {p.get_gid(): of_type(Rectangle, p).get_height() for p in fig.axes[0].patches}
    assert bars == pytest.approx({"capacity:refurbisher:TOY": 0.5, "capacity:recycler:TOY": 2.5})


def test_targets_chart_achieved_vs_required(toy: Any) -> None:
    """Toy Li recovery: 0.9 x 16,000 / 23,800 = 60.5 % against 50 %."""
    fig = charts.targets_chart(toy)
    ax = fig.axes[0]
    bar = of_type(Rectangle, next(p for p in ax.patches if p.get_gid() == "achieved"))
    assert bar.get_width() == pytest.approx(100 * 0.9 * 16000 / 23800)
    required = next(c for c in ax.collections if c.get_gid() == "required")
    assert np.asarray(required.get_offsets())[0][0] == pytest.approx(50.0)


def test_targets_chart_tells_facilities_apart_and_does_not_draw_nothing_as_a_miss() -> None:
    """Two rows of one per-facility target: R1 at 98 % (met), R2 takes nothing (achieved NaN, met)."""
    targets = pd.DataFrame({"jurisdiction": "CN", "metric": "material_recovery", "material": "Co", "period": 2025,
                            "scope": "step", "facility": ["R1", "R2"], "required": 0.98, "achieved": [0.98, np.nan],
                            "met": [True, True]})
    res = PlotResult("t", "base", "CNY", [2025], pd.DataFrame(columns=NODE_COLUMNS), {"targets": targets})
    ax = charts.targets_chart(res).axes[0]
    assert sorted(t.get_text() for t in ax.get_yticklabels()) == ["CN material recovery Co 2025 R1",
                                                                  "CN material recovery Co 2025 R2"]
    notes = [t.get_text() for t in ax.texts]
    assert "98.0% (required 98%)" in notes and "nothing measured in this plan (required 98%)" in notes


def test_sankey_links_of_the_toy(toy: Any) -> None:
    """2,000 t supply; 500 t refurbished, 400 t sold, 100 t rejects; 1,500 t straight to
    recycling. HYDRO recovers Li 0.9 x 16 = 14.4 t, Ni 0.95 x 50 = 47.5 t, Co 0.95 x 15 = 14.25 t;
    the rest of the 1,600 t recycled (1,523.85 t) is residue."""
    links = charts.sankey_links(toy).set_index(["source", "target"])["tonnes"].to_dict()
    assert links == pytest.approx({
        ("End-of-life supply", "Refurbishing"): 500, ("End-of-life supply", "Recycling (packs)"): 1500,
        ("Refurbishing", "Second life: energy storage"): 400, ("Refurbishing", "Recycling (packs)"): 100,
        ("Recycling (packs)", "Li"): 14.4, ("Recycling (packs)", "Ni"): 47.5, ("Recycling (packs)", "Co"): 14.25,
        ("Recycling (packs)", "Residue and losses"): 1523.85})
    fig = charts.sankey(toy)
    nodes = {p.get_gid() for p in fig.axes[0].patches if str(p.get_gid()).startswith("node:")}
    assert "node:Second life: energy storage" in nodes and "node:Residue and losses" in nodes


def test_sankey_links_with_returns_and_black_mass(plan: Any) -> None:
    """2027: 80 t returns and 20 t rejects join C2's 40 t at B; 70 t black mass; RF recovers
    70 x 18 kg/t x 0.9 = 1.134 t Li; residue 140 - 70 = 70 t at B and 70 - 1.134 at RF."""
    links = charts.sankey_links(plan, 2027).set_index(["source", "target"])["tonnes"].to_dict()
    assert links == pytest.approx({
        ("End-of-life supply", "Refurbishing"): 100, ("End-of-life supply", "Recycling (packs)"): 40,
        ("Refurbishing", "Second life: telecom backup"): 80, ("Refurbishing", "Recycling (packs)"): 20,
        ("Returns from second life", "Recycling (packs)"): 80, ("Recycling (packs)", "Black mass refining"): 70,
        ("Black mass refining", "Li"): 1.134, ("Recycling (packs)", "Residue and losses"): 70,
        ("Black mass refining", "Residue and losses"): 70 - 1.134})


def test_geopackage_round_trips_through_geopandas(plan: Any, tmp_path: Path) -> None:
    path = write_geopackage(plan, tmp_path / "network.gpkg")
    import pyogrio

    assert [name for name, _ in pyogrio.list_layers(path)] == ["sites", "facilities", "markets", "flows"]
    flows = gpd.read_file(path, layer="flows")
    assert flows.crs is not None and flows.crs.to_epsg() == 4326
    assert set(flows.geom_type) == {"LineString"}
    key = ["origin", "destination", "commodity", "period"]
    got = flows.groupby(key)["tonnes"].sum()
    want = plan["flows"].groupby(key)["tonnes"].sum()
    assert got.to_dict() == pytest.approx(want.to_dict())
    assert len(flows) == len(plan["flows"])
    line = flows.loc[(flows["origin"] == "C1") & (flows["destination"] == "R")].geometry.iloc[0]
    assert list(line.coords) == [pytest.approx((13.40, 52.52)), pytest.approx((12.37, 51.34))]  # Berlin -> Leipzig
    assert set(flows.loc[flows["destination"] == "R", "destination_site"]) == {"S1"}
    fac = gpd.read_file(path, layer="facilities")
    assert len(fac) == 8  # 4 facilities x 2 periods
    assert fac.loc[fac["facility"] == "RF"].geometry.iloc[0].coords[0] == pytest.approx((9.99, 53.55))
    assert sorted(fac.loc[fac["open"], "facility"].unique()) == ["B", "R", "RF"]
    sites = gpd.read_file(path, layer="sites")
    assert sorted(sites["id"]) == ["C1", "C2", "MK", "S1", "S2", "S3", "S4"]


def test_results_folder_draws_like_the_solution(plan: Any, plan_dir: Path) -> None:
    """solve writes network.gpkg, from which a results folder knows where every node stands."""
    assert (plan_dir / "network.gpkg").is_file()
    res = from_folder(plan_dir)
    mem = as_result(plan)
    cols = ["node", "site", "role", "longitude", "latitude"]
    pd.testing.assert_frame_equal(res.nodes.sort_values("node")[cols].reset_index(drop=True),
                                  mem.nodes.sort_values("node")[cols].reset_index(drop=True), check_dtype=False)
    assert res.years == [2025, 2027]
    fig = maps.flow_map(res, 2027, min_flow=25)
    assert len(_flow_artists(fig)) == 5


def test_results_folder_without_coordinates_is_refused(plan_dir: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(plan_dir, tmp_path / "copy")
    (copy / "network.gpkg").unlink()
    with pytest.raises(ResultsError, match=r"network\.gpkg: missing"):
        from_folder(copy)


# --- the interactive map in a real headless browser --------------------------------------------

BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
                "--disable-default-apps", "--metrics-recording-only", "--no-default-browser-check"]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium (/usr/bin/chromium) is not installed")
def test_html_map_renders_offline_in_chromium(plan: Any, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    path = write_html_map(plan, tmp_path / "map.html", min_flow=25)
    text = path.read_text(encoding="utf-8")
    assert path.stat().st_size > 20_000
    assert "https://" not in text and "src=" not in text and "@import" not in text
    page_url = path.resolve().as_uri()
    requests: list[str] = []
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1300, "height": 900})

            def guard(route: Any) -> None:
                requests.append(route.request.url)
                if route.request.url == page_url:
                    route.continue_()
                else:
                    route.abort()

            context.route("**/*", guard)
            page = context.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning")
                    else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.goto(page_url)
            page.wait_for_selector("path.flow")
            # 2027 is shown first: 5 lines of at least 25 t/yr; three open facilities
            assert page.locator("path.flow").count() == 5
            assert page.locator(".facility").count() == 3
            assert page.locator(".facility[data-state='new']").count() == 1
            assert page.locator("path.candidate").count() == 1
            assert page.locator("circle.cp").count() == 2
            assert page.locator("path.land").count() >= 1  # the basemap
            assert page.locator("text.label").count() >= 1
            page.select_option("#period", "2025")
            assert page.locator("path.flow").count() == 4
            page.fill("#threshold", "50")
            assert page.locator("path.flow").count() == 2  # C1>R 100 and R>M 80
            page.locator("path.flow[data-origin='C1']").dispatch_event("mouseover")
            tip = page.locator("#tip")
            assert tip.is_visible()
            assert "100 t/yr" in tip.inner_text() and "end-of-life packs" in tip.inner_text()
            page.locator(".facility[data-id='R']").dispatch_event("mouseover")
            assert "capacity 500 t/yr" in tip.inner_text()
            page.mouse.move(400, 400)
            page.mouse.wheel(0, -300)  # zoom in: markers keep their screen size
            page.wait_for_timeout(100)
            assert page.locator(".facility").count() == 3
        finally:
            browser.close()
    assert problems == []
    assert set(requests) == {page_url}, requests


# --- the command ------------------------------------------------------------------------------

def test_map_command_end_to_end(plan_dir: Path, tmp_path: Path) -> None:
    """On the folder ``write_results`` (hence ``network-opt solve``) wrote for the plan."""
    runner = CliRunner()
    results = shutil.copytree(plan_dir, tmp_path / "results")

    r = runner.invoke(app, ["map", str(results), "--out", str(tmp_path / "all.png"), "--min-flow", "25"])
    assert r.exit_code == 0, r.output
    assert _png_size(tmp_path / "all.png")[0] > 800  # both periods side by side
    r = runner.invoke(app, ["map", str(results), "--out", str(tmp_path / "m.html"), "--period", "2027"])
    assert r.exit_code == 0, r.output
    html = (tmp_path / "m.html").read_text(encoding="utf-8")
    assert '"periods":["2027"]' in html and "telecom_backup" in html

    # a folder of scenarios: a PNG shows them side by side, HTML needs --scenario
    study = tmp_path / "study"
    shutil.copytree(results, study / "base")
    shutil.copytree(results, study / "tight")
    r = runner.invoke(app, ["map", str(study), "--out", str(tmp_path / "study.png"), "--period", "2027"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["map", str(study), "--out", str(tmp_path / "study.html")])
    assert r.exit_code == 2 and "--scenario" in r.output
    r = runner.invoke(app, ["map", str(study), "--out", str(tmp_path / "tight.html"), "--scenario", "tight"])
    assert r.exit_code == 0, r.output

    for args, message in [(["--out", str(tmp_path / "bad.txt")], "expected a .png"),
                          (["--out", str(tmp_path / "bad.png"), "--period", "2030"], "period 2030 is not in the plan"),
                          (["--out", str(tmp_path / "bad.png"), "--scenario", "nope"], "no scenario 'nope'")]:
        r = runner.invoke(app, ["map", str(results), *args])
        assert r.exit_code == 2 and message in r.output, r.output
    (results / "network.gpkg").unlink()
    r = runner.invoke(app, ["map", str(results), "--out", str(tmp_path / "bad.png")])
    assert r.exit_code == 2 and "network.gpkg: missing" in r.output
    assert not list(tmp_path.glob("bad*")) and not list(tmp_path.glob(".*tmp*"))

    # an existing file is never replaced without --overwrite; a folder never
    mine = tmp_path / "mine.png"
    mine.write_text("precious")
    r = runner.invoke(app, ["map", str(study), "--out", str(mine)])
    assert r.exit_code == 2 and "exists" in r.output and mine.read_text() == "precious"
    r = runner.invoke(app, ["map", str(study), "--out", str(mine), "--overwrite"])
    assert r.exit_code == 0, r.output
    assert mine.read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "dir.png").mkdir()
    r = runner.invoke(app, ["map", str(study), "--out", str(tmp_path / "dir.png"), "--overwrite"])
    assert r.exit_code == 2 and "is a folder" in r.output


# --- facilities where a target binds (issue 15 item 6) ------------------------------------------

def blend_instance(folder: Path) -> Path:
    """The blend case of tests/test_target_scope.py, placed in Germany: 150 t/yr of LFP at C1
    (Berlin) and 50 t/yr of NMC at C2 (Munich), 10 kg Li/t each, free lanes, no revenue. Existing
    recyclers A (Leipzig, 10/t, Li yield 0.9 but 0.5 for LFP) and B (Hamburg, 30/t, Li yield 0.9),
    capacity 1000 each. A Li recovery target of 0.7 with scope facility in XX.

    By hand: A's row 0.01 (0.5 L_A + 0.9 N_A) >= 0.7 x 0.01 (L_A + N_A) asks N_A >= L_A; B's row
    (0.9 >= 0.7) is slack. Cost 10 x 200 + 20 x (tonnes at B) is least with L_A = N_A = 50, so
    B takes the other 100 t of LFP: cost 4000. A achieves exactly 0.7 (0.7 t of 1.0 t of Li):
    its row binds, shadow price 10,000 per unit of rate (raising rho by delta moves 500 delta t
    from A to B at 20/t, 20 x 500 = 10,000); B achieves 0.9 with shadow price 0: not binding."""
    return existing_recyclers(
        folder, supply=[("C1", "LFP", 150), ("C2", "NMC", 50)], li_kg_per_t={"LFP": 10, "NMC": 10},
        technologies=[{"id": "TA", "process": "hydrometallurgical", "recycling_efficiency": 0.7},
                      {"id": "TB", "process": "hydrometallurgical", "recycling_efficiency": 0.7}],
        yields=[{"technology": "TA", "material": "Li", "recovery_yield": 0.9, "chemistry": ""},
                {"technology": "TA", "material": "Li", "recovery_yield": 0.5, "chemistry": "LFP"},
                {"technology": "TB", "material": "Li", "recovery_yield": 0.9, "chemistry": ""}],
        plants=[("A", "TA", 10), ("B", "TB", 30)],
        targets=[{"jurisdiction": "XX", "metric": "material_recovery", "material": "Li", "value": 0.7,
                  "from_period": 2025, "scope": "facility"}],
        places={"C1": (52.52, 13.40), "C2": (48.14, 11.58), "SA": (51.34, 12.37), "SB": (53.55, 9.99)})


BLEND_RULE = "material_recovery Li \u2265 70% (facility)"


@pytest.fixture(scope="module")
def blend(tmp_path_factory: pytest.TempPathFactory) -> Any:
    sol = no.solve(blend_instance(tmp_path_factory.mktemp("blend")))
    assert sol.status == "optimal" and sol.objective == pytest.approx(4000.0)
    return sol


def test_facility_targets_name_the_binding_rule(blend: Any) -> None:
    """A's row binds (achieved 0.7 = required, shadow price 10,000); B's (0.9) does not."""
    from network_opt.plotting.layers import facility_targets

    t = facility_targets(blend["targets"], 2025)
    assert t[["node", "rule", "state"]].values.tolist() == [["A", BLEND_RULE, "binds"]]
    assert t.iloc[0]["achieved"] == pytest.approx(0.7)
    assert t.iloc[0]["shadow_price"] == pytest.approx(10_000.0, rel=1e-6)
    assert facility_targets(blend["targets"], 2030).empty


def test_facility_targets_binds_missed_or_slack() -> None:
    """By the rule: binds = met and (|achieved - required| <= 1e-4 or shadow price > 1e-6);
    missed = not met; a facility that takes nothing (achieved NaN) is neither."""
    from network_opt.plotting.layers import facility_targets

    rows = [("F1", 0.80, 0.80005, True, 0.0), ("F2", 0.80, 0.85, True, 250.0), ("F3", 0.80, 0.85, True, 0.0),
            ("F4", 0.80, 0.75, False, 0.0), ("F5", 0.80, np.nan, True, 0.0), ("", 0.80, 0.80, True, 5.0)]
    frame = pd.DataFrame([{"facility": f, "scope": "chain" if f else "jurisdiction", "metric": "material_recovery",
                           "material": "Li", "period": 2032, "required": r, "achieved": a, "met": m,
                           "shadow_price": s} for f, r, a, m, s in rows])
    t = facility_targets(frame, 2032)
    assert dict(zip(t["node"], t["state"], strict=True)) == {"F1": "binds", "F2": "binds", "F4": "missed"}
    assert set(t["rule"]) == {"material_recovery Li \u2265 80% (chain)"}


def _rings(fig: Any) -> list[str]:
    return [str(c.get_gid()) for ax in fig.axes for c in ax.collections if str(c.get_gid()).startswith("target:")]


def test_map_rings_the_facility_where_a_target_binds(blend: Any, tmp_path: Path) -> None:
    fig = maps.flow_map(blend, targets=True)
    assert _rings(fig) == [f"target:A:binds:{BLEND_RULE}"]
    legend = [t.get_text() for ax in fig.axes if (box := ax.get_legend()) for t in box.get_texts()]
    assert "Targets at facilities" in legend and f"binds: {BLEND_RULE}" in legend
    assert "a target binds at 1" in fig.axes[0].get_title(loc="left")
    assert _rings(maps.flow_map(blend)) == []  # only on request
    # the toy has pooled targets only: the legend says that no facility target binds
    toy_fig = maps.flow_map(no.solve(ROOT / "instances" / "toy"), targets=True)
    toy_legend = [t.get_text() for ax in toy_fig.axes if (box := ax.get_legend()) for t in box.get_texts()]
    assert _rings(toy_fig) == [] and "no per-facility target binds" in toy_legend


def test_map_command_with_targets_png_and_html(blend: Any, tmp_path: Path) -> None:
    """`network-opt map --targets` on the results folder: a PNG, and an HTML map whose facility A
    carries one ring (class target) named after the rule, in Chromium."""
    from playwright.sync_api import sync_playwright

    results = no.write_results(blend, tmp_path / "out")
    runner = CliRunner()
    r = runner.invoke(app, ["map", str(results), "--out", str(tmp_path / "t.png"), "--targets"])
    assert r.exit_code == 0, r.output
    assert _png_size(tmp_path / "t.png")[0] > 800
    r = runner.invoke(app, ["map", str(results), "--out", str(tmp_path / "t.html"), "--targets"])
    assert r.exit_code == 0, r.output
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto((tmp_path / "t.html").resolve().as_uri())
            page.wait_for_selector(".facility")
            rings = page.locator("circle.target")
            assert rings.count() == 1
            assert rings.first.get_attribute("data-id") == "A"
            assert rings.first.get_attribute("data-rule") == BLEND_RULE
            assert f"binds: {BLEND_RULE}" in page.locator("#legend").inner_text()
            page.locator(".facility[data-id='A']").dispatch_event("mouseover")
            assert "shadow price 10,000" in page.locator("#tip").inner_text()
        finally:
            browser.close()
    r = runner.invoke(app, ["map", str(results), "--out", str(tmp_path / "plain.html")])
    assert r.exit_code == 0 and '"targetColours":null' in (tmp_path / "plain.html").read_text(encoding="utf-8")


def test_robustness_map_spreads_facilities_of_one_site() -> None:
    """Two facilities at one site go on a ring around it (up and down), labels pointing outwards; a
    facility alone stays where it is."""
    from network_opt.plotting.robustness import spread_colocated

    x, y, angle = spread_colocated(np.array([0.0, 0.0, 5.0]), np.array([0.0, 0.0, 5.0]), 1.0)
    assert x == pytest.approx([0.0, 0.0, 5.0], abs=1e-12) and y == pytest.approx([1.0, -1.0, 5.0])
    assert angle == pytest.approx([np.pi / 2, 3 * np.pi / 2, np.pi / 4])
