#!/usr/bin/env python
"""Fine-tune and evaluate a checkpoint on a GLUE task, or run a classic baseline on it.

The job lives in :mod:`lexkd.cli.finetune_glue`; this file runs it from a checkout (``--help`` lists every flag).
"""

from lexkd.cli.finetune_glue import *  # noqa: F403  (the job's argument classes and defaults, for callers of this file)
from lexkd.cli.finetune_glue import cli, main  # noqa: F401

if __name__ == "__main__":
    cli()
