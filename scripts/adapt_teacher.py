#!/usr/bin/env python
"""Give a pretrained encoder a masked-LM head so that it can serve as a teacher (plain MLM on a corpus).

The job lives in :mod:`lexkd.cli.adapt_teacher`; this file runs it from a checkout (``--help`` lists every flag).
"""

from lexkd.cli.adapt_teacher import *  # noqa: F403  (the job's argument classes and defaults, for callers of this file)
from lexkd.cli.adapt_teacher import cli, main  # noqa: F401

if __name__ == "__main__":
    cli()
