#!/usr/bin/env python3
"""Entry point in a checkout: ``python run.py [all|train|render|bundle] [options]``; see ``--help``."""
import sys

from mnist_ova.pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main())
