"""Convert SemCor 3.0 (NAF) to the unified WSD format of Raganato et al. (2017).

Writes OUTPUT.data.xml and OUTPUT.gold.key.txt (the standard WSD training set) and prints
the conversion statistics as JSON (documents, sentences, tokens, instances, skipped keys by
reason). The output is derived data of SemCor's licence: it goes under runs/ by default,
which git ignores; never commit it (nor write it under data/).

Example:
    python scripts/prepare_semcor.py
    python scripts/prepare_semcor.py --input ../shared/data/wsd/semcor3.0_naf.tar.xz \\
        --output runs/wsd/semcor/semcor
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from lexkd.tasks.wsd.raganato import convert_semcor_naf
from lexkd.utils.paths import shared_data_dir


def default_input() -> Path:
    """``wsd/semcor3.0_naf.tar.xz`` in the shared data folder (``$LEXKD_SHARED_DATA`` or ``../shared/data``)."""
    return shared_data_dir("wsd", "semcor3.0_naf.tar.xz")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=default_input(),
                        help="SemCor in NAF: the .tar.xz archive, a folder of .naf files or one "
                             ".naf file (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=Path("runs") / "wsd" / "semcor" / "semcor",
                        help="output prefix; writes PREFIX.data.xml and PREFIX.gold.key.txt "
                             "(default: %(default)s; keep it out of git)")
    parser.add_argument("--wordnet", default=None,
                        help="WordNet 3.0 folder (default: the usual places, see lexkd.lexical.wordnet)")
    args = parser.parse_args(argv)
    if not args.input.exists():
        parser.error(f"--input {args.input} does not exist; give the SemCor NAF archive "
                     "(or set LEXKD_SHARED_DATA)")
    from lexkd.lexical.wordnet import get_wordnet

    start = time.perf_counter()
    data_xml = args.output.with_name(args.output.name + ".data.xml")
    gold_key = args.output.with_name(args.output.name + ".gold.key.txt")
    stats = convert_semcor_naf(args.input, data_xml, gold_key, wordnet=get_wordnet(args.wordnet))
    stats.update(data_xml=str(data_xml), gold_key=str(gold_key),
                 seconds=round(time.perf_counter() - start, 1))
    print(json.dumps(stats, indent=1))
    return 0



def cli() -> None:
    """Console entry point (``pip install`` puts it on the PATH; see ``[project.scripts]``)."""
    sys.exit(main())


if __name__ == "__main__":
    cli()
