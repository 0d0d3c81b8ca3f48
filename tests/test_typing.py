"""Static tools can read the whole package: mypy, configured in pyproject.toml, checks every module."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def package_modules():
    """Every module of the package as Python imports it: the layers reached through their links."""
    import mnist_ova

    return {Path(folder, name) for folder, _, names in os.walk(mnist_ova.__path__[0], followlinks=True)
            for name in names if name.endswith(".py")}


def test_mypy_checks_every_module_of_the_package_and_finds_no_error():
    pytest.importorskip("mypy")
    result = subprocess.run([sys.executable, "-m", "mypy", "-p", "mnist_ova"], cwd=REPO, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    checked = re.search(r"Success: no issues found in (\d+) source files", result.stdout)
    assert checked, result.stdout
    modules = package_modules()
    assert {p.parent.name for p in modules} >= {"mnist_ova", "trainer", "render", "pipeline"}
    assert int(checked.group(1)) == len(modules)


def test_only_the_package_imports_as_mnist_ova():
    for outside in ("tests", "bench", "run", "mnist_ova"):
        found = subprocess.run([sys.executable, "-c", f"import mnist_ova.{outside}"], cwd=REPO.parent,
                               capture_output=True, text=True)
        assert found.returncode != 0 and "No module named" in found.stderr, outside
