"""The "Across builds" chart: one point per build for each accuracy, linked to its commit where known."""
import re
import xml.etree.ElementTree as ET

from mnist_ova.render import trends

SVG = "{http://www.w3.org/2000/svg}"


def points(path, group):
    """The marks drawn in the scatter group ``group`` (a <use> of a defined marker or a <path> of its
    own, bare or inside a link), one per point."""
    found, = [g for g in ET.parse(path).getroot().iter(f"{SVG}g") if g.get("id") == group]
    return [mark for child in found if child.tag != f"{SVG}defs" for mark in child.iter()
            if mark.tag in (f"{SVG}use", f"{SVG}path")]


def test_points_per_build_and_links_to_the_commits_known(tmp_path):
    path = tmp_path / "across.svg"
    urls = ["https://github.com/ada/ova/commit/a1", None, "https://github.com/ada/ova/commit/c3", None]
    trends.accuracy_over_builds(["#1", "#2", "#5", "this run"], [0.80, 0.81, 0.79, 0.83],
                                [(0.75, 0.85), (0.76, 0.86), (0.74, 0.84), (0.78, 0.87)], [0.95, 0.96, 0.95, 0.97],
                                path, urls=urls)
    svg = path.read_text()
    for group in ("multiclass", "one-vs-all"):
        assert len(points(path, group)) == 4, group
    links = re.findall(r'<a xlink:href="([^"]+)"', svg)
    assert sorted(set(links)) == [urls[0], urls[2]] and len(links) == 4  # two points per linked build
    assert "this run" in svg and "#5" in svg  # words stay text
    sizes = [float(s) for s in re.findall(r"font-size: ?([\d.]+)px", svg)]
    assert sizes and min(sizes) >= 7
