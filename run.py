#!/usr/bin/env python3
"""Entry point in a checkout: ``python run.py [all|train|render|bundle] [options]``; see ``--help``."""

from mnist_ova.pipeline.cli import run

if __name__ == "__main__":
    run()
