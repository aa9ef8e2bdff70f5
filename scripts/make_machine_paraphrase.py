#!/usr/bin/env python
"""Make a machine-paraphrase detection corpus from real text, in the layout of Zenodo record 3608000.

The job lives in :mod:`lexkd.cli.make_machine_paraphrase`; this file runs it from a checkout (``--help`` lists every flag).
"""

from lexkd.cli.make_machine_paraphrase import *  # noqa: F403  (the job's argument classes and defaults, for callers of this file)
from lexkd.cli.make_machine_paraphrase import cli, main  # noqa: F401

if __name__ == "__main__":
    cli()
