"""Data flows one way: errors -> trainer -> render -> pipeline. No module imports a layer above its
own, and the trainer never pulls in drawing, video or report libraries."""
import ast
import subprocess
import sys

import pytest

from tests.conftest import REPO

LAYERS = ("errors", "trainer", "render", "pipeline")
FORBIDDEN_IN_TRAINER = ("matplotlib", "cv2", "imageio", "imageio_ffmpeg", "jinja2", "weasyprint", "PIL")


def modules_of(layer):
    """A layer's modules, read in the package (the top-level folders are links to it, which a checkout without
    links lacks); the bottom layer is every module beside errors.py but the entry point, __main__."""
    if layer == "errors":
        return sorted(p for p in (REPO / "mnist_ova").glob("*.py") if p.name != "__main__.py")
    return sorted((REPO / "mnist_ova" / layer).glob("*.py"))


def imported_layers(path):
    """The mnist_ova layers a module imports, at any depth of its code (function-level imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        for name in names:
            parts = name.split(".")
            if parts[0] == "mnist_ova" and len(parts) > 1:
                found.add(parts[1])
            if parts[0] in LAYERS[1:]:
                found.add(f"bare {parts[0]}")  # a generic top-level name: not installed, must not be used
    return found


@pytest.mark.parametrize("layer", LAYERS)
def test_no_module_imports_a_layer_above_its_own(layer):
    above = set(LAYERS[LAYERS.index(layer) + 1:])
    checked = modules_of(layer)
    assert checked
    for path in checked:
        bad = {name for name in imported_layers(path) if name in above or name.startswith("bare ")}
        assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}"


def test_the_check_sees_an_upward_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from mnist_ova.render import figures\n")
    assert imported_layers(module) == {"render"}


def test_trainer_imports_no_rendering_library():
    modules = [p.stem for p in modules_of("trainer") if p.stem != "__init__"]
    code = (f"import sys\nfor m in {modules!r}: __import__('mnist_ova.trainer.' + m)\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN_IN_TRAINER!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"
    assert len(modules) >= 7  # every module really was imported
