"""``python -m mnist_ova``: the same command line as ``mnist-ova`` and ``run.py``."""
import sys

from mnist_ova.pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main())
