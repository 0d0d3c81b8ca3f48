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
