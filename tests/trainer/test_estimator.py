"""The one-vs-all model as a scikit-learn classifier: the library's own checks, and the tools that
take any classifier (clone, cross-validation, pipelines, grid search, displays)."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from mnist_ova.errors import ExitCode, InputError
from mnist_ova.trainer.model import NotFittedError, OneVsAllLogisticRegression
from mnist_ova.trainer.preprocess import standardise
from tests.trainer.test_model import notebook_models

NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


# Every check passes, so nothing is listed as an expected failure. The instances are the
# notebook's gradient descent (alpha = 0.01, fewer iterations so the checks stay fast) and L-BFGS.
@parametrize_with_checks([OneVsAllLogisticRegression(max_iter=50),
                          OneVsAllLogisticRegression(solver="lbfgs", max_iter=50)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits(small_digits):
    """The 600 digits standardised, with their labels as words."""
    images, labels = small_digits
    return standardise(images), NAMES[labels], labels


def test_string_labels_give_the_notebooks_weights(digits):
    """Labels only name the models: with words for labels the weights are the notebook's, to 1e-9."""
    X, words, labels = digits
    X, words, labels = X[:200], words[:200], labels[:200]
    model = OneVsAllLogisticRegression(max_iter=60).fit(X, words)
    assert model.classes_.tolist() == sorted(NAMES.tolist())
    reference = notebook_models(X, labels, iterations=60)
    for k, name in enumerate(model.classes_):
        w, b, _, n_iter = reference[NAMES.tolist().index(name)]
        assert np.max(np.abs(model.coef_[k] - w)) <= 1e-9 and abs(model.intercept_[k] - b) <= 1e-9
        assert model.n_iter_[k] == n_iter
    assert set(model.predict(X)) <= set(NAMES)


def test_the_learned_attributes_have_scikit_learns_shapes(digits):
    X, words, _ = digits
    model = OneVsAllLogisticRegression(max_iter=5).fit(X, words)
    assert model.coef_.shape == (10, 784) and model.intercept_.shape == (10,)  # as LogisticRegression
    assert model.n_features_in_ == 784 and not hasattr(model, "feature_names_in_")
    assert model.decision_function(X).shape == (600, 10)
    assert model.score(X, words) == np.mean(model.predict(X) == words)


def test_clone_and_params():
    model = OneVsAllLogisticRegression(learning_rate=0.5, max_iter=7, solver="lbfgs")
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    assert model.get_params(deep=True)["max_iter"] == 7
    assert copy.set_params(max_iter=9, l2=0.1) is copy and copy.max_iter == 9 and copy.l2 == 0.1
    fitted = model.fit(np.eye(4), ["a", "b", "a", "b"])
    assert not hasattr(clone(fitted), "coef_")


def test_cross_val_score_with_string_labels(digits):
    X, words, _ = digits
    scores = cross_val_score(OneVsAllLogisticRegression(max_iter=50), X, words, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.75


def test_pipeline_and_grid_search(small_digits):
    images, labels = small_digits
    words = NAMES[labels]
    pipeline = Pipeline([("standardise", FunctionTransformer(standardise)),
                         ("ova", OneVsAllLogisticRegression(max_iter=30))])
    search = GridSearchCV(pipeline, {"ova__learning_rate": [0.001, 0.1]}, cv=2).fit(images[:300], words[:300])
    assert search.best_params_ == {"ova__learning_rate": 0.1}
    assert search.best_estimator_.named_steps["ova"].coef_.shape == (10, 784)
    assert set(search.predict(images[300:])) <= set(NAMES)
    assert search.score(images[300:], words[300:]) > 0.7


def test_confusion_matrix_display(digits):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    X, words, _ = digits
    model = OneVsAllLogisticRegression(max_iter=30).fit(X, words)
    display = ConfusionMatrixDisplay.from_estimator(model, X, words)
    try:
        assert display.display_labels.tolist() == model.classes_.tolist()
        np.testing.assert_array_equal(display.confusion_matrix,
                                      confusion_matrix(words, model.predict(X), labels=model.classes_))
    finally:
        plt.close(display.figure_)


def test_two_classes_give_one_decision_score_per_sample():
    rng = np.random.RandomState(3)
    X = rng.randn(80, 5)
    y = np.where(X[:, 0] + 0.5 * rng.randn(80) > 0, "yes", "no")
    model = OneVsAllLogisticRegression(max_iter=200, learning_rate=0.5).fit(X, y)
    scores = model.decision_function(X)
    assert scores.shape == (80,)
    np.testing.assert_array_equal(model.predict(X), np.where(scores > 0, "yes", "no"))  # classes_[1] = "yes"
    proba = model.predict_proba(X)
    np.testing.assert_allclose(scores, np.log(proba[:, 1] / proba[:, 0]), rtol=1e-9, atol=1e-12)
    z = X @ model.coef_.T + model.intercept_  # the sign is the two models' own choice
    np.testing.assert_array_equal(scores > 0, z[:, 1] > z[:, 0])


def test_feature_names_from_a_data_frame(digits):
    pd = pytest.importorskip("pandas")
    X, words, _ = digits
    frame = pd.DataFrame(X[:, :20], columns=[f"pixel{i}" for i in range(20)])
    model = OneVsAllLogisticRegression(max_iter=5).fit(frame, words)
    assert model.feature_names_in_.tolist() == list(frame.columns)
    with pytest.raises(ValueError, match="feature names"):
        model.predict(frame[frame.columns[::-1]])


def test_use_before_fit_is_scikit_learns_not_fitted_error_and_an_input_error():
    with pytest.raises(SklearnNotFittedError, match="This OneVsAllLogisticRegression instance is not fitted yet. "
                                                    "Call 'fit' with appropriate arguments") as info:
        OneVsAllLogisticRegression().predict_proba(np.zeros((1, 4)))
    assert isinstance(info.value, NotFittedError) and isinstance(info.value, InputError)
    assert isinstance(info.value, (ValueError, AttributeError))
    assert info.value.exit_code == ExitCode.BAD_INPUT
