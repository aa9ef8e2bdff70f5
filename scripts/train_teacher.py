#!/usr/bin/env python
"""Train a BERT-style masked-LM teacher on a corpus (gold labels only), for use with
scripts/pretrain_multiteacher.py where no pretrained teacher is available.

The job lives in :mod:`lexkd.cli.train_teacher`; this file runs it from a checkout (``--help`` lists every flag).
"""

from lexkd.cli.train_teacher import *  # noqa: F403  (the job's argument classes and defaults, for callers of this file)
from lexkd.cli.train_teacher import cli, main  # noqa: F401

if __name__ == "__main__":
    cli()
