#!/usr/bin/env python
"""Multi-teacher MLM distillation: the main job of lexkd (Wahle, arXiv 2301.08130).

The job lives in :mod:`lexkd.cli.pretrain_multiteacher`; this file runs it from a checkout (``--help`` lists every flag).
"""

from lexkd.cli.pretrain_multiteacher import *  # noqa: F403  (the job's argument classes and defaults, for callers of this file)
from lexkd.cli.pretrain_multiteacher import cli, main  # noqa: F401

if __name__ == "__main__":
    cli()
