#!/usr/bin/env python
"""Distil a seq2seq student from a seq2seq teacher with one of six methods, and score it.

The job lives in :mod:`lexkd.cli.distill_seq2seq`; this file runs it from a checkout (``--help`` lists every flag).
"""

from lexkd.cli.distill_seq2seq import *  # noqa: F403  (the job's argument classes and defaults, for callers of this file)
from lexkd.cli.distill_seq2seq import cli, main  # noqa: F401

if __name__ == "__main__":
    cli()
