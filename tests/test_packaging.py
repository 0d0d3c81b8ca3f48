"""The package installs like any other: a plain wheel works from any folder and adds one import name."""
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
import sklearn
from packaging.requirements import Requirement

from tests.conftest import REPO


def build_wheel(out, tmp_path_factory, env=None):
    """The wheel built from a clean copy of the source files (what git would check out), so nothing left in the
    checkout's build/ folder can slip into it."""
    source = tmp_path_factory.mktemp("source")
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    for name in listed:
        if (REPO / name).is_symlink():  # the top-level links to the package's layers, kept as links
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(REPO / name), source / name)
        elif (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out),
                            str(source)], capture_output=True, text=True, cwd=out, env=env)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (path,) = out.glob("mnist_ova-*.whl")
    return path, built.stdout + built.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return build_wheel(tmp_path_factory.mktemp("wheel"), tmp_path_factory)[0]


def test_the_wheel_installs_one_import_package_with_its_templates(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"mnist_ova"}
    assert {"mnist_ova/templates/report.html.j2", "mnist_ova/templates/style.css", "mnist_ova/trainer/model.py",
            "mnist_ova/render/report.py", "mnist_ova/pipeline/cli.py", "mnist_ova/__main__.py"} <= set(names)
    assert "mnist_ova/trainer/_fused.so" in names  # the kernel, named for no interpreter: it uses no Python ABI
    assert "-py3-none-" in wheel.name  # one wheel for every Python 3 of the platform
    assert not any(name.endswith((".c", ".h")) for name in names)  # its sources stay in the sdist
    assert not any(name.startswith("mnist_ova/tests") for name in names)


def test_the_wheel_declares_what_it_imports(wheel):
    """Every runtime dependency is declared and satisfied here (the fresh venv below reuses them)."""
    with zipfile.ZipFile(wheel) as archive:
        (meta,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        lines = archive.read(meta).decode().splitlines()
    required = [Requirement(line.split(":", 1)[1].strip()) for line in lines if line.startswith("Requires-Dist:")]
    runtime = [r for r in required if not r.marker]
    assert {r.name for r in runtime} >= {"numpy", "scikit-learn", "matplotlib", "jinja2", "weasyprint"}
    for requirement in runtime:
        assert requirement.specifier.contains(metadata.version(requirement.name), prereleases=True), requirement


def fresh_venv(env_dir):
    """A virtual environment that sees the packages of the environment running the tests, offline.

    ``system_site_packages`` would give it the base interpreter's packages, not those of a venv the tests
    may run in; a ``.pth`` file naming every site-packages folder on this process's path gives it exactly
    what this process imports. Entries of a ``.pth`` are plain folders: the editable install's import hook
    in them is not run, so ``mnist_ova`` can only come from what is installed into the new environment."""
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    ours = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]
    (Path(purelib) / "_tests_running_environment.pth").write_text("\n".join(ours) + "\n")
    return python


def test_the_throwaway_venv_sees_the_running_environment(tmp_path):
    python = fresh_venv(tmp_path / "venv")
    found = subprocess.run([python, "-c", "import sklearn, weasyprint; print(sklearn.__file__)"],
                           capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()).resolve().is_relative_to(Path(sklearn.__file__).resolve().parents[1])
    own = subprocess.run([python, "-c", "import mnist_ova"], capture_output=True, text=True, cwd=tmp_path)
    assert own.returncode != 0, "nothing but the wheel may give the fresh venv mnist_ova"


def test_the_console_script_runs_end_to_end_from_another_folder(wheel, tmp_path, small_digits):
    """A fresh virtual environment (reusing the running environment's installed dependencies, offline),
    the wheel installed into it, and the console script run from an unrelated folder on small data."""
    env_dir = tmp_path / "venv"
    python = fresh_venv(env_dir)
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   capture_output=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    images, labels = small_digits
    import numpy as np

    np.savez(work / "digits.npz", X=images, y=labels)
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run([python, "-c", "import mnist_ova; print(mnist_ova.__file__)"], capture_output=True,
                           text=True, cwd=work, env=clean, check=True)
    assert where.stdout.startswith(str(env_dir)), "the installed wheel, not the checkout, must be imported"
    result = subprocess.run([env_dir / "bin" / "mnist-ova", "all", "--data", "digits.npz", "--iterations", "5",
                             "--examples", "4", "--formats", "html,pdf,gif", "--quiet", "--out", "built"],
                            capture_output=True, text=True, cwd=work, env=clean)
    assert result.returncode == 0, result.stderr
    assert {"report.html", "report.pdf", "predictions.gif", "model.npz", "metrics.json"} <= {
        p.name for p in (work / "built").iterdir()}
    module = subprocess.run([python, "-m", "mnist_ova", "--help"], capture_output=True, text=True, cwd=work,
                            env=clean)
    assert module.returncode == 0 and "usage:" in module.stdout


def test_without_a_c_compiler_the_package_installs_and_trains_on_the_numpy_path(tmp_path_factory, tmp_path, tiny_npz):
    """No compiler (a slim container, a Mac without Xcode's tools): the build says so and succeeds without the
    kernel, and the installed tool trains on the NumPy path, saying so once on stderr."""
    env = {**os.environ, "CC": str(tmp_path / "no-such-cc")}
    wheel, log = build_wheel(tmp_path_factory.mktemp("nocc"), tmp_path_factory, env=env)
    assert "building extension \"mnist_ova.trainer._fused\" failed" in log
    with zipfile.ZipFile(wheel) as archive:
        assert not any("_fused" in name for name in archive.namelist())
    python = fresh_venv(tmp_path / "venv")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   capture_output=True)
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MNIST_OVA_KERNEL_TARGET")}
    result = subprocess.run([tmp_path / "venv" / "bin" / "mnist-ova", "train", "--data", str(tiny_npz),
                             "--iterations", "5", "--quiet", "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, cwd=tmp_path, env=clean)
    assert result.returncode == 0, result.stderr
    (note,) = [line for line in result.stderr.splitlines() if "NumPy path" in line]
    assert note.startswith("note: the training kernel (") and "is not built" in note
    assert (tmp_path / "out" / "model.npz").is_file()
