"""The pseudo-target cache: a subset of cached sources is read, not generated again; other sources are generated."""

from __future__ import annotations

import pytest
from conftest import make_texts

from lexkd.models.seq2seq import GenerationSettings, build_bert2bert
from lexkd.seq2seq import pseudo_targets


@pytest.fixture(scope="module")
def teacher(student_checkpoint, tokenizer):
    return build_bert2bert(student_checkpoint, tokenizer=tokenizer, seed=3)


def rows_by_source(dataset, sources):
    out = {}
    for index, sample, ids in zip(dataset["source_index"], dataset["sample_index"], dataset["target_ids"], strict=True):
        out.setdefault(sources[index], {})[sample] = ids
    return out


def test_a_subset_of_the_sources_is_read_from_the_larger_cache(tmp_path, teacher, tokenizer, monkeypatch):
    sources = make_texts(8, seed=13)
    settings = GenerationSettings(max_new_tokens=5, do_sample=True, num_return_sequences=2, seed=7)

    def load(texts):
        return pseudo_targets.load_or_generate(teacher, tokenizer, texts, settings, cache_dir=tmp_path,
                                               teacher_fingerprint="sha256:teacher", max_source_length=16)

    everything, folder = load(sources)
    calls = []
    real = pseudo_targets.generate_pseudo_targets
    monkeypatch.setattr(pseudo_targets, "generate_pseudo_targets", lambda *a, **k: calls.append(len(a[2])) or real(*a, **k))
    subset_sources = [sources[5], sources[1], sources[6]]  # another order, a subset
    subset, read_from = load(subset_sources)
    assert calls == [] and read_from == folder
    assert sorted(set(subset["source_index"])) == [0, 1, 2] and len(subset) == 6
    assert rows_by_source(subset, subset_sources) == {text: rows_by_source(everything, sources)[text]
                                                      for text in subset_sources}
    # one source the cache does not hold: generated (and cached apart); other decoding settings: generated
    load(subset_sources + ["a new source sentence"])
    settings = GenerationSettings(max_new_tokens=5, do_sample=True, num_return_sequences=2, seed=8)
    load(subset_sources)
    assert calls == [4, 3]
