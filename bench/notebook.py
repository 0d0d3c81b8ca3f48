"""The course notebook's training loop as written: ten separate models, float64, and the extra
prediction after every step. The benchmark's baseline (a); deliberately plain."""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def train_one(X, y, alpha=0.01, iterations=1000):
    m = X.shape[0]
    w = np.zeros((X.shape[1], 1))
    b = 0.0
    costs = []
    for i in range(iterations):
        A = sigmoid(np.dot(X, w) + b)
        cost = -np.sum(y * np.log(A) + (1 - y) * np.log(1 - A)) / m
        dw = np.dot(X.T, (A - y)) / m
        db = np.sum(A - y) / m
        w = w - alpha * dw
        b = b - alpha * db
        costs.append(cost)
        y_pred = np.round(sigmoid(np.dot(X, w) + b))
        if np.sqrt(np.mean((y_pred - y) ** 2)) <= 1e-5:
            break
    return w, b, costs


def train_all(X, y, iterations=1000):
    """(W d x 10, b 10): the ten one-vs-all models, one after the other."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        models = [train_one(X, (y == k).astype(float).reshape(-1, 1), iterations=iterations) for k in range(10)]
    return np.hstack([w for w, _, _ in models]), np.array([b for _, b, _ in models])


def main():
    """The notebook's whole job as one process: load the images, standardise them as one float64
    array, split, train the ten models; prints the seconds of each part as JSON."""
    import argparse
    import json
    import sys
    import time
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from mnist_ova.trainer import data

    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--iterations", type=int, default=1000)
    args = parser.parse_args()
    start = time.perf_counter()
    dataset = data.load(args.data, progress=False, log=lambda message: None)
    loaded = time.perf_counter()
    X = dataset.images.astype(np.float64)
    X = (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)
    test = np.random.RandomState(42).permutation(len(X))[: int(np.ceil(0.2 * len(X)))]
    train = np.setdiff1d(np.arange(len(X)), test)
    X_train, y_train = X[train], dataset.labels[train]
    prepared = time.perf_counter()
    W, b = train_all(X_train, y_train, args.iterations)
    done = time.perf_counter()
    accuracy = float(np.mean(np.argmax(X[test] @ W + b, axis=1) == dataset.labels[test]))
    print(json.dumps({"load_s": loaded - start, "preprocess_s": prepared - loaded, "train_s": done - prepared,
                      "multiclass_accuracy": accuracy}))


if __name__ == "__main__":
    main()
