"""Model cards of saved models: what a user reads first in a model folder."""

from __future__ import annotations

from lexkd.mlm.data import MLMData
from lexkd.mlm.trainer import DistillationArguments
from lexkd.mlm.training import masked_lm_card
from lexkd.utils.model_card import model_card


def test_model_card_front_matter_and_tables():
    card = model_card("student-distilled", summary="A student.", base_model="bert-base-uncased/sub",
                      teachers=["t1/model", "t2"], training={"alpha": 0.5}, results={"loss": 6.25},
                      result_notes="nats", pipeline_tag="fill-mask")
    front = card.split("---")[1]
    assert "library_name: transformers" in front and "- lexkd" in front and "pipeline_tag: fill-mask" in front
    assert 'base_model: "bert-base-uncased/sub"' in front
    assert "**Teachers:** `t1/model`, `t2`" in card
    assert "| alpha | 0.5 |" in card and "| 6.25 |" in card and "nats" in card
    local = model_card("m", summary="s", base_model="./runs/x/model")
    assert "base_model:" not in local.split("---")[1]  # a local path means nothing to the hub
    assert "none (trained on gold labels only)" in local


def test_masked_lm_card_records_the_distillation_settings(tmp_path):
    args = DistillationArguments(output_dir=str(tmp_path), alpha=0.3, temperature=2.0, weighting="gold_prob",
                                 max_steps=7, report_to="none", use_cpu=True)
    data = MLMData(train=None, validation=None, stats={"train_sequences": 11, "max_seq_length": 64})
    results = {"loss": 6.5, "perplexity": 665.1, "accuracy": 0.125, "masked_tokens": 80, "parameters": 1234, "steps": 7}
    extra = {"student": {"student": None, "student_layers": 2, "student_hidden_size": 128}, "corpus": {"corpus": "wordnet"}}
    card = masked_lm_card("student-distilled", args, ["teacher-large", "teacher-small"], results, data, extra)
    for expected in ("| weighting rule | gold_prob |", "| alpha | 0.3 |", "| temperature (T) | 2 |", "| steps | 7 |",
                     "| corpus | wordnet |", "| train_sequences | 11 |", "`teacher-large`, `teacher-small`",
                     "random initialisation, BERT 2 layers x 128", "| 6.5 | 665.1 | 0.125 | 80 | 1,234 |"):
        assert expected in card, expected
    gold_only = masked_lm_card("student-mlm", args, [], results, data, {"student": {"student": "runs/x/model"}})
    assert "weighting rule" not in gold_only and "MLM on gold tokens only" in gold_only
    assert "**Started from:** runs/x/model" in gold_only


def test_file_lock_excludes_another_process(tmp_path):
    """utils.io.file_lock (filelock) holds other processes off (the old lock was a no-op without fcntl)."""
    import multiprocessing

    import filelock
    import pytest

    from lexkd.utils.io import file_lock

    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.get_context("fork").Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(filelock.Timeout):
            with file_lock(tmp_path, ".results.lock", timeout=0.2):
                pass
    finally:
        release.set()
        holder.join(30)
    with file_lock(tmp_path, ".results.lock", timeout=5):  # free again once the holder let go
        pass


def _hold_lock(folder, ready, release):
    from lexkd.utils.io import file_lock

    with file_lock(folder, ".results.lock"):
        ready.set()
        release.wait(30)
