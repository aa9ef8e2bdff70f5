"""Atomic writes: modes from the process umask, temporaries of killed processes removed on the next write."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from lexkd.utils.io import atomic_directory, save_model_atomically, write_text_atomically


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_folders_and_files_written_through_a_temporary_name_get_the_umask_modes(tmp_path, umask_022, tokenizer):
    from transformers import BertConfig, BertForMaskedLM

    model = BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1,
                                       num_attention_heads=2, intermediate_size=16))
    folder = save_model_atomically(model, tokenizer, tmp_path / "model", model_card="# card")
    assert mode(folder) == 0o755
    assert {p.name: mode(p) for p in folder.iterdir()}["model.safetensors"] == 0o644  # transformers writes it 0600
    assert all(mode(p) == 0o644 for p in folder.iterdir())
    with atomic_directory(tmp_path / "nested") as tmp:
        (tmp / "sub").mkdir(mode=0o700)
        (tmp / "sub" / "x.txt").write_text("x")
        os.chmod(tmp / "sub" / "x.txt", 0o600)
    assert mode(tmp_path / "nested" / "sub") == 0o755 and mode(tmp_path / "nested" / "sub" / "x.txt") == 0o644
    assert mode(write_text_atomically("x", tmp_path / "file.txt")) == 0o644


KILLED_MID_WRITE = """
import os, sys
from lexkd.utils.io import atomic_directory, write_atomically
target = sys.argv[1]
def die(handle):
    handle.write("partial"); handle.flush(); os._exit(9)
if sys.argv[2] == "folder":
    with atomic_directory(target) as tmp:
        (tmp / "weights.bin").write_bytes(b"partial")
        os._exit(9)
else:
    write_atomically(target, die)
"""


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_the_temporary_of_a_killed_write_is_removed_by_the_next_write(tmp_path, kind):
    target = tmp_path / ("model" if kind == "folder" else "metrics.json")
    done = subprocess.run([sys.executable, "-c", KILLED_MID_WRITE, str(target), kind], capture_output=True)
    assert done.returncode == 9
    left = [p.name for p in tmp_path.iterdir()]
    assert not target.exists() and len(left) == 1 and left[0].startswith(f".{target.name}.tmp-"), left
    other = tmp_path / f".{target.name}.tmp-otherhost-1-abc"  # another machine's: not ours to judge
    other.mkdir()
    if kind == "folder":
        with atomic_directory(target) as tmp:
            (tmp / "weights.bin").write_bytes(b"complete")
    else:
        write_text_atomically("complete", target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, other.name])
