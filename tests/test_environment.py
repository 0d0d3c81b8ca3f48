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
