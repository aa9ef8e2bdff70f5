#!/usr/bin/env python
"""Compare the teacher weighting rules at equal steps, data order and teachers.

The job lives in :mod:`lexkd.cli.compare_weighting_rules`; this file runs it from a checkout (``--help`` lists every flag).
"""

from lexkd.cli.compare_weighting_rules import *  # noqa: F403  (the job's argument classes and defaults, for callers of this file)
from lexkd.cli.compare_weighting_rules import cli, main  # noqa: F401

if __name__ == "__main__":
    cli()
