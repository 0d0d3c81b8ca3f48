"""What the deliverables need from the system beyond Python packages, checked before any work: a run that cannot
make its PDF or its videos says so at once in one line, with what to install, not after training for minutes."""
import contextlib
import io

from mnist_ova.errors import InputError

# What installs each, by system (WeasyPrint's and imageio-ffmpeg's own instructions).
PANGO = ("Debian/Ubuntu: sudo apt-get install libpango-1.0-0 libpangoft2-1.0-0; Fedora: sudo dnf install pango; "
         "macOS: brew install pango; Windows: MSYS2's pacman -S mingw-w64-x86_64-pango")
FFMPEG = ("Debian/Ubuntu: sudo apt-get install ffmpeg; Fedora: sudo dnf install ffmpeg-free; macOS: brew install "
          "ffmpeg; Windows: winget install ffmpeg; or set IMAGEIO_FFMPEG_EXE to an ffmpeg")
VIDEO_FORMATS = ("mp4", "training")  # the --formats whose files ffmpeg encodes


def check(formats):
    """An InputError naming what to install (or which format to leave out) if ``formats`` need a system library
    or program that is missing here."""
    if "pdf" in formats:
        _check_pango()
    if set(VIDEO_FORMATS) & set(formats):
        _check_ffmpeg()


def _check_pango():
    try:
        # WeasyPrint's own search for Pango, the one the PDF build uses; where it fails WeasyPrint prints a banner
        # of its own on stdout, where --json's summary goes
        with contextlib.redirect_stdout(io.StringIO()):
            import weasyprint  # noqa: F401
    except OSError as error:  # cffi's "cannot load library 'libpango-1.0-0': …"
        raise InputError(f"the PDF report needs Pango, which is not installed ({_first_line(error)}): {PANGO}; "
                         "or leave pdf out of the formats", option="formats") from error


def _check_ffmpeg():
    import imageio_ffmpeg

    try:
        imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as error:  # no bundled binary for this platform and none on the system
        raise InputError(f"the videos need ffmpeg, which is not installed: {FFMPEG}; or leave "
                         f"{' and '.join(VIDEO_FORMATS)} out of the formats", option="formats") from error


def _first_line(error):
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
