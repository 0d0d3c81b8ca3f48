#!/usr/bin/env python3
"""Entry point: ``python run.py [all|train|render] [options]``; see ``--help``."""
import sys

from pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main())
