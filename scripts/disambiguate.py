#!/usr/bin/env python
"""Rank the WordNet senses of a word in a sentence with an LMGC model.

The job lives in :mod:`lexkd.cli.disambiguate`; this file runs it from a checkout (``--help`` lists every flag).
"""

from lexkd.cli.disambiguate import *  # noqa: F403  (the job's argument classes and defaults, for callers of this file)
from lexkd.cli.disambiguate import cli, main  # noqa: F401

if __name__ == "__main__":
    cli()
