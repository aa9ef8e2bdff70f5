#!/usr/bin/env python
"""LMGC-M lexical pretraining: teach a BertForPreTraining student WordNet senses without new parameters.

The job lives in :mod:`lexkd.cli.pretrain_lexical`; this file runs it from a checkout (``--help`` lists every flag).
"""

from lexkd.cli.pretrain_lexical import *  # noqa: F403  (the job's argument classes and defaults, for callers of this file)
from lexkd.cli.pretrain_lexical import cli, main  # noqa: F401

if __name__ == "__main__":
    cli()
