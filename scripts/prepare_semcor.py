#!/usr/bin/env python
"""Convert SemCor 3.0 (NAF) to the unified WSD format of Raganato et al. (2017).

The job lives in :mod:`lexkd.cli.prepare_semcor`; this file runs it from a checkout (``--help`` lists every flag).
"""

from lexkd.cli.prepare_semcor import cli, main  # noqa: F401

if __name__ == "__main__":
    cli()
