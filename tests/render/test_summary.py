"""summary.md from templates/summary.md.j2: Markdown, not HTML; the verdict words are the report's; a
--template-dir twin overrides it."""
from types import SimpleNamespace

import pytest

from mnist_ova.render import report, summary


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
    assert text.startswith(f"## mnist-ova: 4 test images of digits <mine> & co (sha256 `{'ab' * 6}`)\n\n")
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
