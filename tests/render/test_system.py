"""A missing Pango or ffmpeg is one line naming what to install, before any work (exit 2, nothing trained)."""
import subprocess
import sys
import time

import pytest

from mnist_ova.errors import InputError
from mnist_ova.render import system

# Before the tool starts, the library loader refuses Pango (cffi, as WeasyPrint loads it) or imageio-ffmpeg
# finds no ffmpeg: what a machine without them gives.
WITHOUT = {
    "pango": """
import cffi
dlopen = cffi.FFI.dlopen
def refuse_pango(self, name, *args):
    if 'pango' in str(name):
        raise OSError(f"cannot load library {name!r}: {name}: cannot open shared object file")
    return dlopen(self, name, *args)
cffi.FFI.dlopen = refuse_pango
""",
    "ffmpeg": """
import imageio_ffmpeg
def no_ffmpeg():
    raise RuntimeError("No ffmpeg exe could be found. Install ffmpeg on your system")
imageio_ffmpeg.get_ffmpeg_exe = no_ffmpeg
""",
}


def run_without(missing, tmp_path, data, *flags):
    code = WITHOUT[missing] + "import sys\nfrom mnist_ova.pipeline.cli import run\nrun(sys.argv[1:])\n"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code, "all", "--data", str(data), "--iterations", "3",
                             "--out", str(tmp_path / "out"), "--quiet", *flags], capture_output=True, text=True)
    return result, time.monotonic() - started


@pytest.mark.parametrize("missing, formats, named", [
    ("pango", "html,pdf", ["the PDF report needs Pango", "apt-get install libpango-1.0-0", "dnf install pango",
                           "brew install pango", "pacman -S mingw-w64-x86_64-pango", "leave pdf out"]),
    ("ffmpeg", "html,mp4", ["the videos need ffmpeg", "apt-get install ffmpeg", "brew install ffmpeg",
                            "winget install ffmpeg", "IMAGEIO_FFMPEG_EXE", "leave mp4 and training out"]),
])
def test_a_missing_system_library_stops_the_run_before_any_work(missing, formats, named, tmp_path, tiny_npz):
    result, seconds = run_without(missing, tmp_path, tiny_npz, "--formats", formats)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""  # where --json writes its summary
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and line.endswith("(--formats)")
    for words in named:
        assert words in line
    assert not (tmp_path / "out" / "model.npz").exists()  # nothing trained, nothing written
    assert seconds < 30


def test_a_run_without_the_missing_ones_formats_goes_on(tmp_path, tiny_npz):
    result, _ = run_without("pango", tmp_path, tiny_npz, "--formats", "html")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "report.html").is_file()


def test_this_machine_has_what_every_format_needs():
    system.check(("html", "pdf", "mp4", "gif", "figures", "training"))
    assert "weasyprint" in sys.modules  # Pango loaded, as the PDF build loads it


def test_formats_that_need_nothing_of_the_system_check_nothing(monkeypatch):
    monkeypatch.setattr(system, "_check_pango", lambda: pytest.fail("pdf was not asked for"))
    monkeypatch.setattr(system, "_check_ffmpeg", lambda: pytest.fail("no video was asked for"))
    system.check(("html", "gif", "figures"))


def test_the_message_names_the_loaders_own_words(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pango(name, *args, **kwargs):
        if name == "weasyprint":
            raise OSError("cannot load library 'libpango-1.0-0': error 0x7e\n(more lines)")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pango)
    with pytest.raises(InputError, match=r"not installed \(cannot load library 'libpango-1.0-0': error 0x7e\)") as error:
        system.check(("pdf",))
    assert error.value.option == "formats"
