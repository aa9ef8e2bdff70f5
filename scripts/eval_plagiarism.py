#!/usr/bin/env python
"""Fine-tune and evaluate a checkpoint on plagiarism detection, or run a classic baseline on it.

The job lives in :mod:`lexkd.cli.eval_plagiarism`; this file runs it from a checkout (``--help`` lists every flag).
"""

from lexkd.cli.eval_plagiarism import *  # noqa: F403  (the job's argument classes and defaults, for callers of this file)
from lexkd.cli.eval_plagiarism import cli, main  # noqa: F401

if __name__ == "__main__":
    cli()
