"""The whole job on small real data, and its deliverables checked the way a person would."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

from mnist_ova.pipeline.cli import main
from tests.render.test_video import probe

SMALL = ["--iterations", "40", "--examples", "4", "--fps", "10", "--seconds-per-example", "0.5",
         "--video-size", "320x240", "--quiet"]
SECTIONS = ("Contents", "Introduction", "Data", "Method", "Training", "Results", "Examples", "Prediction video",
            "Conclusion", "Appendix")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_npz):
    out = tmp_path_factory.mktemp("out")
    assert main(["--data", str(tiny_npz), "--out", str(out), "--author", "Ada Student", "--course", "ML 101",
                 "--institution", "Test University", "--seat", "A-17", *SMALL]) == 0
    return out


def test_every_deliverable_is_there(built):
    for name in ("report.html", "report.pdf", "predictions.mp4", "predictions.gif", "model.npz", "metrics.json",
                 "manifest.json", "predictions.vtt", "figures/confusion_matrix.svg", "figures/roc_curves.svg",
                 "figures/weights.svg", "figures/cost_curves.svg", "figures/accuracy.svg", "figures/examples.svg",
                 "figures/misclassified.svg", "figures/per_class.svg", "figures/eq_gradients.svg",
                 "figures/video_posters.png", "figures/video_poster.png", "training.mp4", "training.gif",
                 "training.vtt", "figures/learning.svg", "figures/training_poster.png"):
        assert (built / name).is_file() and (built / name).stat().st_size > 0, name
    assert not [p for p in built.iterdir() if p.name.startswith(".")]


def test_manifest_lists_every_artifact_with_size_and_sha256(built):
    manifest = json.loads((built / "manifest.json").read_text())["artifacts"]
    on_disk = sorted(p.relative_to(built).as_posix() for p in built.rglob("*") if p.is_file())
    unlisted = {"manifest.json", "timings.json"}  # the manifest itself, and the one file that differs per run
    assert sorted(a["path"] for a in manifest) == [n for n in on_disk if n not in unlisted]
    for artifact in manifest:
        data = (built / artifact["path"]).read_bytes()
        assert artifact["bytes"] == len(data) and artifact["sha256"] == hashlib.sha256(data).hexdigest()


def test_video_matches_the_settings(built):
    # 4 examples of 0.5 s at 10 fps: 3 frames of growing bars and 1 held each, the last once more at the end.
    assert probe(built / "predictions.mp4") == ("h264", "yuv420p", (320, 240), 4 * 4 + 1,
                                                pytest.approx(4 * 0.5, abs=1e-3))


def test_pdf_has_every_section_the_title_page_and_the_accuracy(built):
    if not shutil.which("pdftotext"):
        pytest.skip("poppler-utils is not installed") if not os.environ.get("CI") else pytest.fail("no pdftotext")
    text = subprocess.run(["pdftotext", "-layout", str(built / "report.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    for section in SECTIONS:
        assert section in text, section
    for field in ("Ada Student", "ML 101", "Test University", "A-17"):
        assert field in text
    accuracy = json.loads((built / "metrics.json").read_text())["multiclass_accuracy"]
    assert f"{100 * accuracy:.2f}%" in text
    assert "predictions.mp4" in text  # the PDF names the video it cannot play


def test_pdf_first_page_is_not_blank(built, tmp_path):
    if not shutil.which("pdftoppm"):
        pytest.skip("poppler-utils is not installed") if not os.environ.get("CI") else pytest.fail("no pdftoppm")
    subprocess.run(["pdftoppm", "-r", "30", "-f", "1", "-l", "1", "-gray", "-png", str(built / "report.pdf"),
                    str(tmp_path / "page")], check=True)
    from PIL import Image

    page = np.asarray(Image.open(next(tmp_path.glob("page*.png"))))
    assert (page < 128).mean() > 0.002, "page 1 carries visible text"


def test_the_report_quotes_the_videos_own_highest_score(built):
    """The discussion's example of an uncalibrated score is the video's highest, as its captions show it."""
    captions = [int(score) for score in re.findall(r", (\d+) %$", (built / "predictions.vtt").read_text(), re.M)]
    quoted = re.findall(r'"(\d+)(?:&nbsp;|\xa0)%" in the\s+video', (built / "report.html").read_text())
    assert captions and quoted == [str(max(captions))]


def test_html_is_self_contained(built):
    html = (built / "report.html").read_text()
    assert "data:video/mp4;base64," in html and "data:image/gif;base64," in html
    assert 'src="figures/' not in html


@pytest.fixture(scope="module")
def report_page(built):
    """report.html open in headless Chromium (autoplay allowed)."""
    chromium = shutil.which("chromium")
    if not chromium:
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium (.ci/run does)")
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(profile, executable_path=chromium,
                                                                args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page()
            page.goto((built / "report.html").as_uri())
            yield page
        finally:
            browser.close()


def plays(page, video, seconds):
    """The ``video`` (a CSS selector) loads, lasts ``seconds`` and plays without an error."""
    page.wait_for_function(f"document.querySelector('{video}').readyState === 4", timeout=30_000)
    assert page.evaluate(f"document.querySelector('{video}').duration") == pytest.approx(seconds, abs=0.1)
    page.evaluate(f"document.querySelector('{video}').play()")
    page.wait_for_function(f"document.querySelector('{video}').currentTime > 0.3", timeout=10_000)
    assert page.evaluate(f"document.querySelector('{video}').error") is None


def test_chromium_plays_the_reports_video(report_page):
    plays(report_page, "#fig_video video", 2.0)


def test_chromium_plays_the_training_film_with_its_captions(report_page, built):
    from mnist_ova.render.training_film import SECONDS

    plays(report_page, "#fig_film video", SECONDS)
    assert report_page.evaluate("document.querySelector('#fig_film video').videoWidth") == 320
    assert report_page.evaluate("document.querySelector('#fig_film video').poster.startsWith('data:image/png')")
    cues = (built / "training.vtt").read_text().count(" --> ")
    report_page.wait_for_function("(() => { const t = document.querySelector('#fig_film video').textTracks[0]; "
                                  f"return t && t.cues && t.cues.length === {cues}; }})()", timeout=20_000)
    track = report_page.evaluate("(() => { const t = document.querySelector('#fig_film video').textTracks[0]; "
                                 "return [t.kind, t.language, t.cues[0].text, t.cues[t.cues.length - 1].text]; })()")
    assert track[:2] == ["captions", "en"] and cues >= 8
    assert track[2].startswith("iteration 1 of 40: test accuracy ") and track[3].startswith("iteration 40 of 40")


def test_render_from_a_saved_model_without_retraining(built, tmp_path, tiny_npz):
    assert main(["render", "--model", str(built / "model.npz"), "--out", str(tmp_path), "--formats", "pdf,gif",
                 *SMALL]) == 0
    made = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert made == ["manifest.json", "predictions.csv", "predictions.gif", "report.pdf", "summary.md", "timings.json"]


def test_render_from_a_saved_model_gives_the_same_film(built, tmp_path):
    assert main(["render", "--model", str(built / "model.npz"), "--out", str(tmp_path), "--formats",
                 "training,figures", *SMALL]) == 0
    for name in ("training.mp4", "training.gif", "training.vtt", "figures/training_poster.png",
                 "figures/learning.svg"):
        assert (tmp_path / name).read_bytes() == (built / name).read_bytes(), name


def test_a_model_of_the_previous_format_renders_everything_but_the_film(built, tmp_path):
    import io
    import zipfile

    with np.load(built / "model.npz", allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files if not key.startswith("snapshot_")}  # saved without snapshots
    old = tmp_path / "old.npz"
    with zipfile.ZipFile(old, "w") as archive:
        for name, value in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(value), allow_pickle=False)
            archive.writestr(f"{name}.npy", buffer.getvalue())
    out = tmp_path / "out"
    assert main(["render", "--model", str(old), "--out", str(out), *SMALL]) == 0
    assert (out / "report.pdf").is_file() and (out / "predictions.mp4").is_file()
    assert not list(out.glob("training.*")) and not (out / "figures" / "learning.svg").exists()
    assert "How the models learned" not in (out / "report.html").read_text()


def test_external_assets_link_the_files(tmp_path, built):
    assert main(["render", "--model", str(built / "model.npz"), "--out", str(tmp_path), "--formats", "html,mp4,training",
                 "--html-assets", "external", *SMALL]) == 0
    html = (tmp_path / "report.html").read_text()
    assert 'src="predictions.mp4"' in html and 'src="figures/confusion_matrix.svg"' in html
    assert 'src="predictions.vtt"' in html and 'poster="figures/video_poster.png"' in html
    assert 'src="training.mp4"' in html and 'src="training.vtt"' in html
    assert 'poster="figures/training_poster.png"' in html
    assert (tmp_path / "figures" / "confusion_matrix.svg").is_file()
    # Only the drill-down galleries' digits are carried inside (their names depend on the data, so they
    # are no files of their own); every figure and video is a link.
    import re

    inline = re.findall(r'<img src="data:[^"]*" alt="([^"]*)"', html)
    assert html.count("data:") == len(inline) and all(alt.startswith("test row") for alt in inline)


def test_a_broken_user_template_is_one_line_and_changes_nothing(tmp_path, built, capsys):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "report.html.j2").write_text("{% for x in %}")
    before = sorted(built.rglob("*"))
    stamp = (built / "report.html").stat().st_mtime_ns
    assert main(["render", "--model", str(built / "model.npz"), "--out", str(built), "--template-dir",
                 str(tmp_path / "templates"), *SMALL]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "report.html.j2 line 1" in err
    assert sorted(built.rglob("*")) == before and (built / "report.html").stat().st_mtime_ns == stamp


def test_the_report_names_the_fast_solver(tmp_path, tiny_npz):
    if not shutil.which("pdftotext"):
        pytest.skip("poppler-utils is not installed") if not os.environ.get("CI") else pytest.fail("no pdftotext")
    assert main(["--data", str(tiny_npz), "--out", str(tmp_path), "--solver", "lbfgs", "--formats", "pdf",
                 *SMALL]) == 0
    config = json.loads((tmp_path / "metrics.json").read_text())["config"]
    assert config["solver"] == "lbfgs" and config["l2"] == 0.001
    text = subprocess.run(["pdftotext", str(tmp_path / "report.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "L-BFGS, one run per model, in lockstep" in text


def test_the_pdf_does_not_wait_on_the_video_lanes(tmp_path, tiny_npz, monkeypatch):
    # The PDF shows the film's poster: it must come from a lane the PDF waits for, however slowly the
    # film's own lane runs (a slow one once left the PDF without it: KeyError 'film_poster'). Here the
    # film's lane starts only once the PDF is written.
    import time

    from mnist_ova.pipeline import deliverables, outputs

    film = deliverables._film

    def after_the_pdf(r):  # in the film's lane, which inherits it by fork
        deadline = time.monotonic() + 120
        while not r.staging.path(outputs.PDF).is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        film(r)

    monkeypatch.setenv("MNIST_OVA_START_METHOD", "fork")
    monkeypatch.setattr(deliverables, "_film", after_the_pdf)
    out = tmp_path / "out"
    assert main(["--data", str(tiny_npz), "--out", str(out), "--formats", "pdf,training", *SMALL]) == 0
    assert (out / "report.pdf").stat().st_size > 0 and (out / "training.mp4").stat().st_size > 0
