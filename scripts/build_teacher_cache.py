#!/usr/bin/env python
"""Run the teachers once over a corpus and store their combined top-k targets for distillation.

The job lives in :mod:`lexkd.cli.build_teacher_cache`; this file runs it from a checkout (``--help`` lists every flag).
"""

from lexkd.cli.build_teacher_cache import *  # noqa: F403  (the job's argument classes and defaults, for callers of this file)
from lexkd.cli.build_teacher_cache import cli, main  # noqa: F401

if __name__ == "__main__":
    cli()
