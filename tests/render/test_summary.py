"""summary.md from templates/summary.md.j2: Markdown, not HTML; the verdict words are the report's; a
--template-dir twin overrides it."""
from types import SimpleNamespace

import pytest

from mnist_ova.pipeline.gates import GateResult
from mnist_ova.render import report, summary


def rendered(markdown):
    """The HTML GitHub-flavoured Markdown makes of ``markdown`` (tables and strike-through on)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("gfm-like", {"html": True, "linkify": False}).render(markdown)


def _context(verdict="real", name="digits <mine> & co"):
    change = SimpleNamespace(before=0.5, change=0.25)
    row = {"label": "multiclass accuracy", "value": 0.75, "interval": {"low": 0.7, "high": 0.8}, "change": change, "share": True,
           "bins": None, "verdict": verdict}
    calibration = dict(row, label="expected calibration error", interval=None, bins=15, change=None, verdict=None)
    return {"dataset": {"n_test": 4, "name": name, "sha256": "ab" * 32}, "rows": [row, calibration], "gates": (),
            "files": ("report.pdf", "metrics.json"), "link_prefix": "out/", "comparison": {
                "baseline_path": "old", "pairing": None, "pairing_problem": "no rows in common",
                "config_differences": [("seed", 1, 2)], "same_config": False,
                "main": SimpleNamespace(change=0.25, overlap=False), "verdict": verdict}}


def test_the_summary_is_markdown_not_escaped_html():
    text = summary.markdown(_context())
    # Text from outside is escaped for Markdown (so it shows as typed), never for HTML.
    assert text.startswith(f"## mnist-ova: 4 test images of digits \\<mine\\> \\& co (sha256 `{'ab' * 6}`)\n\n")
    assert "digits &lt;mine&gt; &amp; co" in rendered(text)  # what a Markdown reader shows: the name as typed
    assert "| multiclass accuracy | 75.00 % | 70.00–80.00 % | 50.00 % | +25.00 pt | **real** |\n" in text
    assert "| expected calibration error (15 bins) | 75.00 % | – | – | – | |\n" in text
    assert "Compared with the baseline `old`: seed 1 → 2.\n\nMcNemar's test cannot be computed: no rows in common.\n" \
        in text
    assert text.endswith("Files: [report.pdf](out/report.pdf) · [metrics.json](out/metrics.json)\n\n")
    assert "&amp;" not in text and "&lt;" not in text


@pytest.mark.parametrize("verdict", ["none", "within-noise", "real"])
def test_the_verdict_words_are_the_reports(verdict):
    words = report.environment().from_string(
        '{% from "macros.html.j2" import verdict_text %}{{ verdict_text(v) }}').render(v=verdict)
    cell = words if verdict != "real" else f"**{words}**"
    assert f"| +25.00 pt | {cell} |\n" in summary.markdown(_context(verdict))


def test_a_template_dir_overrides_the_summary(tmp_path):
    (tmp_path / summary.TEMPLATE).write_text("{{ dataset.name }} only\n")
    assert summary.markdown(_context(name="mine"), tmp_path) == "mine only"


HOSTILE = ("a|b", "`tick`", "<script>x</script>", "*star*", "[l](u)", "~~gone~~", "&amp;", "_under_")


@pytest.mark.parametrize("name", HOSTILE)
def test_names_stay_text_in_the_markdown(name):
    """A hostile name in the heading, the baseline's path, a setting and a gate's metric: the tables keep
    their cells, and the rendered page shows each name as typed (no markup, no HTML, no link)."""
    import html

    context = _context(name=name)
    context["comparison"] = dict(context["comparison"], baseline_path=f"runs/{name}",
                                 config_differences=[("seed", name, 2)])
    context["gates"] = (GateResult("fail-under", f"recall:{name}", bound=0.5, value=0.75),)
    context["link_prefix"] = "my out (1)/"
    page = rendered(summary.markdown(context))
    assert f"test images of {html.escape(name, quote=False)} (sha256" in page
    assert f"<code>runs/{html.escape(name, quote=False)}</code>" in page
    assert f"seed {html.escape(name, quote=False)} → 2" in page
    assert f"<td><code>--fail-under recall:{html.escape(name, quote=False)}=0.5</code></td>" in page
    assert page.count("<td") == 2 * 6 + 4  # two headline rows of six cells, one gate row of four
    assert not any(tag in page for tag in ("<script", "<em>", "<strong>x", "<del>", "<s>"))
    assert page.count("<a href") == 2 and 'href="my%20out%20(1)/report.pdf"' in page
