"""Red team, issue 32 item 1: the PDF build fetches nothing. A hostile SVG reaches WeasyPrint only if it
slips past notes.load's check, so these hand it to report.write_pdf directly, as a data: URL of the HTML."""
import base64
import http.server
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from mnist_ova.render import report
from tests.render.test_report_quality import need

SVG = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="200" '
       'height="200">{}</svg>')


def html_with(svg):
    url = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")
    return f'<html><body><p>Notes</p><img src="{url}" alt="drawn"></body></html>'


def build_in_child(html, folder, timeout=120):
    """report.write_pdf in a child, so a build that hangs fails the test instead of holding it."""
    (folder / "report.html").write_text(html, encoding="utf-8")
    script = ("import sys; from pathlib import Path; from mnist_ova.render import report; "
              "report.write_pdf(Path(sys.argv[1]).read_text(), sys.argv[2], base_url=sys.argv[3])")
    try:
        subprocess.run([sys.executable, "-c", script, str(folder / "report.html"), str(folder / "report.pdf"),
                        str(folder)], check=True, timeout=timeout, capture_output=True)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the PDF build ran past {timeout} s")
    return folder / "report.pdf"


def test_an_svg_image_of_a_file_outside_is_not_embedded(tmp_path):
    need("pdfimages")
    from PIL import Image

    outside = tmp_path / "secret.png"
    Image.fromarray(np.full((23, 37), 200, dtype=np.uint8)).save(outside)  # a size nothing else has
    svg = SVG.format(f'<image href="{outside.as_uri()}" width="37" height="23"/>'
                     '<image href="file:///etc/hostname" width="10" height="10"/>')
    (tmp_path / "out").mkdir()
    pdf = build_in_child(html_with(svg), tmp_path / "out")
    listing = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert not [line for line in listing.splitlines()[2:] if line.split()[3:5] == ["37", "23"]], listing


def test_an_svg_image_on_a_local_server_makes_no_request(tmp_path):
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        svg = SVG.format(f'<image href="{url}/svg.png" width="10" height="10"/>'
                         f'<image xlink:href="{url}/xlink.png" width="10" height="10"/>'
                         f'<rect width="10" height="10" fill="url({url}/fill#p)"/>'
                         f'<style>@import url({url}/style.css);</style>')
        html = html_with(svg).replace("<p>", f'<p><img src="{url}/page.png" alt="">')
        report.write_pdf(html, tmp_path / "report.pdf", base_url=tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert requests == []
    assert (tmp_path / "report.pdf").stat().st_size > 0


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes (FIFOs) on this platform")
def test_an_svg_image_of_a_fifo_does_not_hang_the_build(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    svg = SVG.format(f'<image href="{(tmp_path / "pipe.png").as_uri()}" width="10" height="10"/>')
    (tmp_path / "out").mkdir()
    assert build_in_child(html_with(svg), tmp_path / "out").stat().st_size > 0


def use_bomb(levels=9, copies=10):
    """3.5 KB of <use>s, each level copying the one below ten times: 10**9 shapes drawn."""
    groups = ['<g id="l0"><path d="M0 0h1v1z"/></g>']
    for level in range(1, levels + 1):
        uses = "".join(f'<use href="#l{level - 1}"/>' for _ in range(copies))
        groups.append(f'<g id="l{level}">{uses}</g>')
    return SVG.format(f'<defs>{"".join(groups)}</defs><use href="#l{levels}"/>')


def test_a_use_bomb_is_not_drawn(tmp_path):
    (tmp_path / "out").mkdir()
    assert build_in_child(html_with(use_bomb()), tmp_path / "out").stat().st_size > 0


@pytest.mark.parametrize("url", ["file:///etc/hostname", "http://127.0.0.1:9/", "ftp://127.0.0.1/a.png",
                                 "data:text/css,body{}", "DATA:image/png;base64,AAAA"])
def test_serve_refuses_every_url_but_an_image_it_can_check(url):
    with pytest.raises(ValueError):
        report.serve(url)


def test_serve_gives_a_checked_image_and_refuses_an_oversized_data_url(monkeypatch):
    svg = SVG.format('<rect width="10" height="10"/>').encode()
    url = "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
    assert report.serve(url) == (svg, "image/svg+xml")
    monkeypatch.setattr(report, "DATA_LIMIT", len(url) - 1)
    with pytest.raises(ValueError, match="at most"):
        report.serve(url)
