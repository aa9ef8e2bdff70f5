"""Where lexkd finds the real data sets it reads in place (``../shared/data`` on its build machines).

The data root is ``$LEXKD_SHARED_DATA`` when set, else ``../shared/data`` beside the working
directory (the layout of lexkd's development machines and CI: the project and ``shared/`` side by
side). It never depends on where the package is installed, so it resolves the same way after a
non-editable ``pip install``.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_SHARED_DATA = "LEXKD_SHARED_DATA"


class SharedDataNotFoundError(FileNotFoundError):
    """The shared data folder (or a file expected in it) is absent."""


def shared_data_dir(*parts: str, must_exist: bool = False) -> Path:
    """The data root, or a path inside it: ``$LEXKD_SHARED_DATA/parts...``, else ``../shared/data/parts...``.

    Args:
        parts: path components below the data root, e.g. ``("nlg", "shakespeare")``.
        must_exist: raise when the path does not exist instead of returning it.

    Raises:
        SharedDataNotFoundError: ``must_exist`` and the path is absent; the message names the
            path and the two ways to point lexkd at the data.
    """
    env = os.environ.get(ENV_SHARED_DATA)
    root = Path(env) if env else Path.cwd().parent / "shared" / "data"
    path = root.joinpath(*parts)
    if must_exist and not path.exists():
        origin = f"${ENV_SHARED_DATA}" if env else "the default ../shared/data beside the working directory"
        raise SharedDataNotFoundError(
            f"{path} does not exist (data root from {origin}): set {ENV_SHARED_DATA} to the folder that "
            "holds lexkd's shared data, run from the project folder beside shared/, or pass the path explicitly."
        )
    return path
