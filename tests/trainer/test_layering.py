"""Data flows one way: the trainer never pulls in drawing, video or report libraries."""
import subprocess
import sys
from pathlib import Path

FORBIDDEN = ("matplotlib", "cv2", "imageio", "imageio_ffmpeg", "jinja2", "weasyprint", "PIL", "sklearn")


def test_trainer_imports_no_rendering_library():
    modules = sorted(p.stem for p in (Path(__file__).parents[2] / "trainer").glob("*.py") if p.stem != "__init__")
    code = (f"import sys, trainer\nfor m in {modules!r}: __import__('trainer.' + m)\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[2])
    assert out.stdout.strip() == "[]"
    assert len(modules) >= 7  # every module really was imported
