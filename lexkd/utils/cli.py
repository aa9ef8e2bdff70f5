"""The command line of every job: dataclasses parsed by ``HfArgumentParser`` (:func:`parse_args`), one
clear error line for expected input errors (:func:`run_cli`), and :func:`args_with`.

Every field's ``help`` is shown by ``--help``. ``--config FILE.yaml`` sets defaults from a YAML
file (keys are the flag names without dashes); flags given on the command line override them.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import yaml
from transformers import HfArgumentParser


def args_with(args, **changes):
    """A copy of the arguments dataclass ``args`` (e.g. a ``TrainingArguments`` subclass) with
    ``changes`` applied, validated again by its ``__post_init__``.

    Raises:
        TypeError: a name in ``changes`` that is not one of the dataclass's init fields.
        ValueError: from ``__post_init__``, for a changed value out of range.
    """
    names = {f.name for f in dataclasses.fields(args) if f.init}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise TypeError(f"{type(args).__name__} has no field {', '.join(unknown)}; its fields are the script's flags.")
    return dataclasses.replace(args, **changes)


def parse_args(dataclass_types: tuple, argv: list[str] | None = None, defaults: dict | None = None):
    """Parse the command line into the dataclasses, with ``--config FILE.yaml`` and script defaults.

    Precedence: command line > YAML config > ``defaults`` (the script's) > field defaults.

    Raises:
        SystemExit: (argparse) an unknown flag or bad value, with usage; a missing or malformed
            config file, or unknown keys in it, with the valid flag names.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser(dataclass_types, allow_abbrev=False)  # --alph is an error, not --alpha
    parser.add_argument("--config", type=str, default=None, help="YAML file of flag defaults (flag names as keys).")
    config_path = parser.parse_known_args(argv)[0].config
    merged = dict(defaults or {})
    if config_path is not None:
        merged.update(_read_config(parser, config_path))
    known = {action.dest for action in parser._actions}
    # a YAML scalar for a list flag (``teachers: path/one``) is a one-item list, not a list of characters
    list_flags = {action.dest for action in parser._actions if action.nargs in ("+", "*")}
    merged = {k: [v] if k in list_flags and isinstance(v, str) else v for k, v in merged.items()}
    parser.set_defaults(**{k: v for k, v in merged.items() if k in known})
    namespace = parser.parse_args(argv)
    del namespace.config
    outputs = []
    for dtype in dataclass_types:
        names = {f for f in dtype.__dataclass_fields__ if dtype.__dataclass_fields__[f].init}
        outputs.append(dtype(**{k: v for k, v in vars(namespace).items() if k in names}))
    return tuple(outputs)


def _read_config(parser: HfArgumentParser, path: str) -> dict:
    if not Path(path).is_file():
        parser.error(f"--config {path}: no such file.")
    try:
        values = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as error:
        parser.error(f"--config {path}: not valid YAML ({error}).")
    if not isinstance(values, dict):
        parser.error(f"--config {path}: expected a mapping of flag names to values.")
    known = {action.dest for action in parser._actions}
    unknown = sorted(set(values) - known)
    if unknown:
        parser.error(f"--config {path}: unknown keys {unknown}; see --help for the valid flag names.")
    return values


def run_cli(main) -> int:
    """Run a script's ``main()``, turning expected input errors into one clear line and exit code 2.

    Expected errors are ``FileNotFoundError``, ``ValueError`` (bad values, empty corpora,
    vocabulary mismatches) and ``OSError`` (hub ids that cannot be loaded). Set
    ``LEXKD_TRACEBACK=1`` to see the full traceback.
    """
    import os

    try:
        return main()
    except (FileNotFoundError, FileExistsError, ValueError, OSError) as error:
        if os.environ.get("LEXKD_TRACEBACK"):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2


