"""``python -m mnist_ova``: the same command line as ``mnist-ova`` and ``run.py``."""

from mnist_ova.pipeline.cli import run

if __name__ == "__main__":
    run()
