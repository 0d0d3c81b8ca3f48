import pytest

from mnist_ova import environment
from mnist_ova.errors import InputError


def test_training_threads_are_the_cpus_unless_set():
    assert environment.training_threads({}) >= 1
    assert environment.training_threads({"MNIST_OVA_THREADS": " 3 "}) == 3


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5", "²", "\u0663"])
def test_a_bad_thread_count_is_an_input_error_naming_the_variable(value):
    with pytest.raises(InputError, match=rf"MNIST_OVA_THREADS must be a whole number of at least 1; got '{value}'"):
        environment.training_threads({"MNIST_OVA_THREADS": value})


def test_the_kernel_target_is_asked_for_in_lower_case_or_not_at_all():
    assert environment.kernel_target({}) is None
    assert environment.kernel_target({"MNIST_OVA_KERNEL_TARGET": " "}) is None
    assert environment.kernel_target({"MNIST_OVA_KERNEL_TARGET": "AVX2"}) == "avx2"


def test_reproducible_time_is_source_date_epoch_else_now_to_the_second():
    """One owner of reproducible mode: history, the report and model.npz ask these two."""
    import datetime

    fixed = {"SOURCE_DATE_EPOCH": "1700000000"}
    assert environment.reproducible(fixed) and not environment.reproducible({"SOURCE_DATE_EPOCH": ""})
    assert environment.run_time(fixed) == datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc)
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    now = environment.run_time({})
    assert now.microsecond == 0 and before <= now <= datetime.datetime.now(datetime.timezone.utc)
    with pytest.raises(InputError, match="SOURCE_DATE_EPOCH must be a whole number"):
        environment.run_time({"SOURCE_DATE_EPOCH": "soon"})


def test_the_dependencies_are_pyprojects_without_the_extras():
    """The report's table of package versions lists what the installed tool requires, not a copy of it."""
    import tomllib

    from tests.conftest import REPO

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    expected = tuple(requirement.split(">")[0].split("=")[0].strip() for requirement in declared)
    assert environment.dependencies() == expected
    assert "mlflow-skinny" not in expected and "pytest" not in expected
    assert environment.dependencies("no-such-distribution-here") == ()
