"""A test that cannot fail is a defect: every test function must check a value, by an ``assert``, by
``pytest.raises``/``pytest.warns``, by an ``assert_*``/``check_*`` function of a library (numpy's,
scikit-learn's), or by calling a helper of the test suite that does one of these. Read from the
source with ``ast``, so it costs no test run."""
import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# Library functions that fail when what they check does not hold.
CHECKING_CALLS = ("raises", "warns", "fail")
CHECKING_PREFIXES = ("assert_", "check_")
# Tests that rightly check nothing themselves, each with the reason.
EXCEPTIONS = {
    "tests/trainer/test_estimator.py::test_scikit_learn_estimator_checks":
        "runs each of scikit-learn's estimator checks, which raise AssertionError when the estimator fails them",
}


def _called_names(node):
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            func = call.func
            yield func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def _checks_directly(node):
    return any(isinstance(n, ast.Assert) for n in ast.walk(node)) or any(
        name and (name in CHECKING_CALLS or name.startswith(CHECKING_PREFIXES)) for name in _called_names(node))


def _modules():
    """{module: its syntax tree} of every file of the test suite."""
    return {path.relative_to(TESTS.parent).as_posix(): ast.parse(path.read_text(encoding="utf-8"), str(path))
            for path in sorted(TESTS.rglob("*.py"))}


def _functions(tree):
    return {node.name: node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _imported(tree):
    """{name: module} of the functions a test module imports from another (``from tests.x import f``)."""
    return {alias.asname or alias.name: node.module.replace(".", "/") + ".py" for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests.") for alias in node.names}


def _checking_helpers(modules):
    """{(module, name)} of the suite's functions that check a value, directly or through another such
    helper: a function defined in the module calling it, or imported from another test module."""
    functions = {(module, name): node for module, tree in modules.items() for name, node in _functions(tree).items()}
    imported = {module: _imported(tree) for module, tree in modules.items()}

    def resolve(module, name):
        return (imported[module][name], name) if name in imported[module] else (module, name)

    checking = {key for key, node in functions.items() if _checks_directly(node)}
    while True:
        more = {(module, name) for (module, name), node in functions.items() if (module, name) not in checking
                and any(resolve(module, called) in checking for called in _called_names(node) if called)}
        if not more:
            return checking
        checking |= more


def test_every_test_checks_a_value():
    modules = _modules()
    checking = _checking_helpers(modules)
    idle = [f"{module}::{name}" for module, tree in modules.items() for name in _functions(tree)
            if name.startswith("test_") and (module, name) not in checking]
    unexplained = sorted(set(idle) - set(EXCEPTIONS))
    assert not unexplained, f"tests that check no value: {unexplained}"
    assert not set(EXCEPTIONS) - set(idle), "an exception that is no longer needed"


def test_the_check_sees_a_test_that_only_runs_code():
    helper = "def helper(x):\n    assert x\n"
    tests = "from tests.h import helper\n\ndef check(x):\n    pass\n\ndef test_a():\n    run()\n\n" \
            "def test_b():\n    helper(run())\n\ndef test_c():\n    check(run())\n"
    modules = {"tests/h.py": ast.parse(helper), "tests/t.py": ast.parse(tests),
               "tests/u.py": ast.parse("def check(x):\n    assert x\n")}
    checking = _checking_helpers(modules)
    assert ("tests/t.py", "test_b") in checking  # through the helper it imports
    assert ("tests/t.py", "test_a") not in checking
    assert ("tests/t.py", "test_c") not in checking  # another module's check() is not this one's
