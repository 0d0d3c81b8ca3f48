"""The table of outputs carries every fact about an artifact; the choices of --formats, the report's
assets, the summary's links and the bundle's drop order are read from it."""
import ast
import re

from mnist_ova.pipeline import bundle, config, deliverables, outputs, summary
from mnist_ova.render import figures, report


def test_the_formats_are_the_tables_flags_in_their_documented_order():
    assert config.FORMATS == outputs.FORMATS == ("html", "pdf", "mp4", "gif", "figures", "training")
    made_by = {f: sorted(n for n, a in outputs.ARTIFACTS.items() if a.format == f) for f in outputs.FORMATS}
    assert made_by["mp4"] == ["predictions.mp4", "predictions.vtt"] and made_by["gif"] == ["predictions.gif"]
    assert made_by["training"] == ["training.gif", "training.mp4", "training.vtt"]
    assert all(name.startswith("figures/") for name in made_by["figures"])


def test_every_asset_a_template_names_is_in_the_table(tmp_path):
    folder = report.bundled_templates()
    text = "".join(folder.joinpath(name).read_text()
                   for name in ("report.html.j2", "analysis.html.j2", "learning.html.j2"))
    named = set(re.findall(r"""(?:figure|equation|asset)\(["']([a-z_]+)["']""", text))
    paths = deliverables.figure_paths(tmp_path)
    known = set(paths) | set(outputs.assets(deliverables.VIDEOS))
    assert named and named <= known, named - known
    assert {p.name for p in paths.values()} == {n.removeprefix("figures/") for n, a in outputs.ARTIFACTS.items()
                                                if a.format == "figures"}


def test_the_summary_links_the_reports_first_then_the_data():
    assert summary.files_to_link(("pdf", "html")) == ["report.html", "report.pdf", "metrics.json", "predictions.csv"]
    assert summary.files_to_link(("gif",)) == ["metrics.json", "predictions.csv"]


def test_the_bundle_drops_by_rank_then_every_other_optional_file_alone():
    included = sorted(["report.pdf", "metrics.json", "manifest.json", "report.html", "predictions.mp4",
                       "predictions.vtt", "predictions.gif", "figures/accuracy.svg", "figures/eq_cost.svg",
                       "summary.md", "predictions.csv", "training.mp4", "training.vtt", "training.gif"])
    assert bundle._drop_steps(included) == [
        ["training.mp4", "training.vtt"], ["predictions.mp4"], ["report.html"], ["predictions.gif", "training.gif"],
        ["figures/accuracy.svg", "figures/eq_cost.svg"], ["predictions.csv"], ["predictions.vtt"], ["summary.md"]]


def test_the_table_of_names_imports_no_renderer_and_names_every_equation_drawn():
    imported = {alias.name for node in ast.walk(ast.parse(open(outputs.__file__).read()))
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(ast.parse(open(outputs.__file__).read()))
                 if isinstance(node, ast.ImportFrom)}
    assert imported == {"dataclasses"}
    assert outputs.EQUATIONS == tuple(figures.EQUATIONS)


def test_every_deliverable_writes_an_output_of_the_table_and_waits_only_for_lanes_that_exist():
    lanes = {d.lane for d in deliverables.DELIVERABLES}
    assert lanes == {"main", "drawings", "video", "film"}
    for d in deliverables.DELIVERABLES:
        assert d.output in outputs.ARTIFACTS or d.output == outputs.FIGURES_DIR, d.name
        assert set(d.after) <= lanes - {"main"} and (not d.after or d.lane == "main"), d.name
    # The PDF waits for every figure; the HTML, which embeds the videos, for every lane.
    assert deliverables.BY_NAME["html"].after == ("drawings", "video", "film")
    assert {d.lane for d in deliverables.DELIVERABLES if d.output == outputs.FIGURES_DIR} <= \
        {"main", *deliverables.BY_NAME["pdf"].after}
