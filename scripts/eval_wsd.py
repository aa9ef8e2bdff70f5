#!/usr/bin/env python
"""Evaluate a WSD system on a data set in the unified format of Raganato et al. (2017).

The job lives in :mod:`lexkd.cli.eval_wsd`; this file runs it from a checkout (``--help`` lists every flag).
"""

from lexkd.cli.eval_wsd import *  # noqa: F403  (the job's argument classes and defaults, for callers of this file)
from lexkd.cli.eval_wsd import cli, main  # noqa: F401

if __name__ == "__main__":
    cli()
