"""`dvc plots show` and `dvc plots diff` draw every plot in a real browser with no network.

The page DVC writes carries vega, vega-lite and vega-embed (`.dvc/config`'s
`plots.html_template`, built by `make install`), so nothing is fetched: the browser
(tests/browser.py) aborts every request that is not for a local file. Each plot must be
drawn: a canvas or SVG whose screenshot has coloured pixels (lines, heatmap cells), not an
empty element or bare axes. The CCA heatmap says what a cell shows when the grid has a
third axis (scale_power): the best row over it, and which scale_power that is.
"""

import json

import pytest
from browser import coloured_pixels, offline_page
from helpers import copy_project, run

pytestmark = pytest.mark.e2e

# A grid of three axes: 2 n_components x 2 reg x 2 scale_power, with a distinct best per cell.
GRID_HEADER = "n_components,reg,scale_power,criterion"
GRID = [
    (10, 0.001, 1.0, 100.0), (10, 0.001, 2.0, 120.0),
    (10, 0.1, 1.0, 150.0), (10, 0.1, 2.0, 90.0),
    (20, 0.001, 1.0, 200.0), (20, 0.001, 2.0, 210.5),
    (20, 0.1, 1.0, 80.0), (20, 0.1, 2.0, 70.0),
]  # fmt: skip
BEST = {"120.0 scale_power 2.0", "150.0 scale_power 1.0", "210.5 scale_power 2.0",
        "80.0 scale_power 1.0"}  # fmt: skip


# The plots of dvc.yaml, by the ids of their elements on the page.
PLOTS = {"metrics_recall_at_k_csv", "metrics_cca_grid_csv", "metrics_gallery_png"}


@pytest.fixture(scope="module")
def project(demo_project, tmp_path_factory):
    root = copy_project(demo_project, tmp_path_factory.mktemp("plots"))
    lines = [GRID_HEADER, *(",".join(map(str, row)) for row in GRID)]
    (root / "metrics/cca_grid.csv").write_text("\n".join(lines) + "\n")
    return root


def drawn_plots(page, html):
    """{plot div id: coloured pixels of its drawing} for every plot of a `dvc plots` page."""
    page.goto(html.as_uri())
    divs = page.locator("body > div[id]")
    ids = divs.evaluate_all("divs => divs.map(d => d.id)")
    drawn = {}
    for plot_id in ids:
        div = page.locator(f"[id='{plot_id}']")
        drawing = div.locator("canvas, svg.marks, img").first
        drawing.wait_for(state="visible", timeout=30_000)
        if drawing.evaluate("e => e.tagName") == "IMG":
            drawing.evaluate("img => img.decode()")
        drawn[plot_id] = coloured_pixels(div.screenshot())
    return drawn


def test_every_plot_is_drawn_offline_by_show_and_diff(project, tmp_path):
    run(["dvc", "plots", "show", "-o", str(tmp_path / "show")], project)
    run(["dvc", "plots", "diff", "HEAD", "-o", str(tmp_path / "diff")], project)
    with offline_page() as browser:
        for name in ("show", "diff"):
            drawn = drawn_plots(browser.page, tmp_path / name / "index.html")
            browser.page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
            assert set(drawn) == PLOTS
            assert all(pixels > 200 for pixels in drawn.values()), (name, drawn)
        assert browser.blocked == []  # nothing was even asked of the network


def test_the_heatmap_names_the_axis_it_takes_the_best_over(project, tmp_path):
    _, out = run(["dvc", "plots", "show", "--json"], project)
    [heatmap] = json.loads(out)["data"]["metrics/cca_grid.csv"]
    spec = heatmap["content"]
    assert "scale_power" in spec["title"]["subtitle"]
    run(["dvc", "plots", "show", "-o", str(tmp_path / "show")], project)
    with offline_page() as browser:
        browser.page.goto((tmp_path / "show/index.html").as_uri())
        texts = browser.page.evaluate(
            """async spec => {
                const element = document.createElement("div");
                document.body.append(element);
                await vegaEmbed(element, spec, {renderer: "svg", actions: false});
                const texts = element.querySelectorAll("g.mark-text text, g.role-title text");
                return [...texts].map(t => [...t.querySelectorAll("tspan")].map(
                    s => s.textContent).join(" ") || t.textContent);
            }""",
            spec,
        )
    assert BEST <= set(texts), texts  # one cell per n_components x reg: the best row
    assert spec["title"]["subtitle"] in texts
