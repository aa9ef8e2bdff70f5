"""scripts/distill_seq2seq.py end to end on tiny files and checkpoints; the pseudo-target cache."""

import json
import shutil

import datasets
import pytest
import sacrebleu
import torch
from conftest import make_texts, run_named_script, save_tiny_bert
from transformers import BertConfig, BertForPreTraining, GenerationConfig

from lexkd.data.tokenization import train_wordpiece_tokenizer
from lexkd.seq2seq import pseudo_targets
from lexkd.seq2seq.job import (
    NLGDataArguments,
    NLGModelArguments,
    eval_only_label,
    evaluate_and_record,
    load_data,
    output_root_for,
    resume_checkpoint,
)
from lexkd.seq2seq.trainer import Seq2SeqDistillationArguments


def run_script(argv):
    return run_named_script("distill_seq2seq", argv)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nlg")
    for split, n, seed in (("train", 24, 5), ("valid", 6, 6)):
        sources = make_texts(n, seed=seed)
        (folder / f"{split}.src").write_text("\n".join(sources) + "\n")
        (folder / f"{split}.tgt").write_text("\n".join(" ".join(s.split()[:4]) for s in sources) + "\n")
    return folder


@pytest.fixture(scope="module")
def teacher_init(tmp_path_factory, tokenizer):
    return save_tiny_bert(tmp_path_factory.mktemp("teacher") / "teacher-init" / "model", tokenizer, hidden_size=48, seed=1)


def common_args(files, root, student, teacher_init):
    return ["--task", "files", "--train_source_file", str(files / "train.src"), "--train_target_file",
            str(files / "train.tgt"), "--validation_source_file", str(files / "valid.src"),
            "--validation_target_file", str(files / "valid.tgt"), "--student", str(student), "--teacher_init",
            str(teacher_init), "--teacher_max_steps", "2", "--output_root", str(root), "--max_steps", "2",
            "--per_device_train_batch_size", "8", "--max_source_length", "16", "--max_target_length", "6",
            "--max_new_tokens", "6", "--num_pseudo_targets", "2", "--eval_num_beams", "2", "--use_cpu", "true",
            "--disable_tqdm", "true", "--save_strategy", "no", "--labeled_examples", "16"]


def rescored(folder, tokenizer) -> dict:
    """BLEU and chrF recomputed with sacrebleu from ``folder/predictions.tsv``, both sides lowercased
    and split as the tokenizer's normaliser and pre-tokeniser do (lexkd.seq2seq.metrics' rule)."""
    backend = tokenizer.backend_tokenizer

    def words(text):
        return " ".join(w for w, _ in backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(text)))

    lines = (folder / "predictions.tsv").read_text().splitlines()
    assert lines[0] == "source\treference\thypothesis"
    _, references, hypotheses = zip(*(line.split("\t") for line in lines[1:]), strict=True)
    hypotheses, references = [words(h) for h in hypotheses], [[words(r) for r in references]]
    return {"bleu": sacrebleu.corpus_bleu(hypotheses, references, tokenize="none").score,
            "chrf": sacrebleu.corpus_chrf(hypotheses, references).score}


def test_methods_share_the_teacher_and_its_pseudo_targets(files, tmp_path, student_checkpoint, teacher_init, monkeypatch,
                                                          tokenizer):
    calls = []
    original = pseudo_targets.generate_pseudo_targets

    def counting(*args, **kwargs):
        calls.append(len(args[2]))
        return original(*args, **kwargs)

    monkeypatch.setattr(pseudo_targets, "generate_pseudo_targets", counting)
    root = tmp_path / "out"
    args = common_args(files, root, student_checkpoint, teacher_init)
    assert run_script(args + ["--method", "pseudo_targets"]) == 0
    assert calls == [24]  # 16 labelled + 8 unlabelled inputs, generated once
    teachers = list(root.glob("teacher-*/model/config.json"))
    assert len(teachers) == 1
    assert run_script(args + ["--method", "joint_teaching"]) == 0  # same cache: read, not generated
    assert run_script(args + ["--method", "f_distill", "--divergence", "js", "--beta", "0.85"]) == 0
    # f_distill samples the labelled inputs only, with the same decoding settings: the 16 are a subset of the
    # 24-input cache, read from it instead of generated again (issue 19)
    assert calls == [24]
    assert list(root.glob("teacher-*/model/config.json")) == teachers  # the teacher was reused
    rows = [json.loads(line) for line in (root / "results.jsonl").read_text().splitlines()]
    assert {r["model"] for r in rows} == {"copy-baseline", "teacher", "pseudo_targets", "joint_teaching", "f_distill-js"}
    pt_row = next(r for r in rows if r["model"] == "pseudo_targets")
    assert pt_row["train_examples"] == 16 + 2 * 24  # gold + 2 pseudo-targets per input
    assert pt_row["settings"]["pseudo_target_rows"] == 48
    for name in ("pseudo_targets", "f_distill-js"):
        assert (root / name / "model" / "config.json").is_file()
        card = (root / name / "model" / "README.md").read_text()
        assert f"| method | {name.split('-')[0]} |" in card and "pipeline_tag: text2text-generation" in card
        assert (root / name / "predictions.tsv").read_text().count("\n") == 7  # header + 6
        metrics = json.loads((root / name / "metrics.json").read_text())
        assert "generation_config" in metrics
        expected = rescored(root / name, tokenizer)  # the reported scores are those of the predictions written
        assert {k: metrics[k] for k in expected} == pytest.approx(expected, abs=1e-9)
        row = next(r for r in rows if r["model"] == name)["metrics"]["validation"]
        assert {k: row[k] for k in expected} == {k: round(v, 4) for k, v in expected.items()}
    assert "| copy-baseline |" in (root / "results.md").read_text()


def test_sft_needs_no_teacher_and_changing_sampling_makes_a_new_cache(files, tmp_path, student_checkpoint, teacher_init):
    root = tmp_path / "out"
    args = common_args(files, root, student_checkpoint, teacher_init)
    assert run_script(args + ["--method", "sft", "--teacher_init", str(tmp_path / "absent")]) == 0
    assert not list(root.glob("teacher-*"))
    assert run_script(args + ["--method", "seqkd"]) == 0
    assert run_script(args + ["--method", "pseudo_targets", "--pt_top_p", "0.5"]) == 0
    assert len(list((root / "cache").glob("teacher-*"))) == 2  # beam and sampled caches

    # --eval_only: the saved student scored again, untrained, in another output root, gives the same scores
    other = tmp_path / "evaluated"
    assert run_script(args + ["--eval_only", "--student", str(root / "sft" / "model"), "--output_root", str(other)]) == 0
    rows = {r["model"]: r for r in map(json.loads, (other / "results.jsonl").read_text().splitlines())}
    assert set(rows) == {"copy-baseline", "sft"} and rows["sft"]["kind"] == "evaluated as given"
    assert rows["sft"]["train_examples"] == 0 and not (other / "sft" / "model").exists()
    assert rows["sft"]["settings"]["decoding"] == {"num_beams": 2, "length_penalty": 1.0, "max_new_tokens": 6}
    # another length penalty: its own row (--label), its decoding settings recorded in the row and metrics.json
    assert run_script(args + ["--eval_only", "--student", str(root / "sft" / "model"), "--output_root", str(other),
                              "--eval_length_penalty", "-2.0", "--label", "sft-lp"]) == 0
    rows = {r["model"]: r for r in map(json.loads, (other / "results.jsonl").read_text().splitlines())}
    assert rows["sft-lp"]["settings"]["decoding"]["length_penalty"] == -2.0
    assert json.loads((other / "sft-lp" / "metrics.json").read_text())["generation_config"]["length_penalty"] == -2.0
    trained = json.loads((root / "sft" / "metrics.json").read_text())
    evaluated = json.loads((other / "sft" / "metrics.json").read_text())
    assert {k: evaluated[k] for k in ("bleu", "chrf", "rougeL")} == {k: trained[k] for k in ("bleu", "chrf", "rougeL")}
    assert (other / "sft" / "predictions.tsv").read_text() == (root / "sft" / "predictions.tsv").read_text()


def test_a_teacher_trained_further_from_a_teacher_folder_with_copied_targets(files, tmp_path, student_checkpoint,
                                                                             teacher_init, monkeypatch):
    from lexkd.seq2seq import job

    seen = []
    original = job.tokenize_pairs

    def recording(pairs, *args, **kwargs):
        seen.append((list(pairs["source"]), list(pairs["target"])))
        return original(pairs, *args, **kwargs)

    monkeypatch.setattr(job, "tokenize_pairs", recording)
    root = tmp_path / "out"
    args = common_args(files, root, student_checkpoint, teacher_init)
    assert run_script(args + ["--teacher_only"]) == 0  # the teacher alone: no student trained
    (first,) = root.glob("teacher-*/model")
    assert not (root / "sft").exists() and len(seen) == 1
    gold_sources, gold_targets = seen[0]
    assert len(gold_sources) == 16
    assert run_script(args + ["--teacher_only"]) == 0 and len(seen) == 1  # already there: reused, nothing trained
    assert run_script(args + ["--teacher_only", "--eval_only"]) == 2
    # the first teacher's folder as --teacher_init: trained further (a seq2seq checkpoint is loaded as it is,
    # no new cross-attention), on the gold pairs plus each gold target copied to itself
    seen.clear()
    assert run_script(args + ["--method", "word_kd", "--teacher_init", str(first), "--teacher_copy_targets",
                              "--label", "word_kd-2"]) == 0
    teachers = sorted(root.glob("teacher-*/model"))
    assert len(teachers) == 2
    (second,) = [t for t in teachers if t != first]
    meta = json.loads((second.parent / "teacher_meta.json").read_text())
    assert meta["settings"]["copy_targets"] is True and "copy_targets" not in json.loads(
        (first.parent / "teacher_meta.json").read_text())["settings"]
    assert seen[0] == (gold_sources + gold_targets, gold_targets + gold_targets)  # the teacher's rows
    assert all(len(sources) == 16 for sources, _ in seen[1:])  # the student's rows: gold pairs only
    rows = [json.loads(line) for line in (root / "results.jsonl").read_text().splitlines()]
    assert [r["train_examples"] for r in rows if r["model"] == "teacher"] == [16, 32]


def test_max_eval_examples_is_a_fixed_sample_not_the_first_lines(tmp_path):
    lines = [f"line {i:03d}" for i in range(200)]
    for name in ("a.src", "a.tgt"):
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    files = {"train_source_file": str(tmp_path / "a.src"), "train_target_file": str(tmp_path / "a.tgt"),
             "validation_source_file": str(tmp_path / "a.src"), "validation_target_file": str(tmp_path / "a.tgt")}
    picked = [load_data(NLGDataArguments(task="files", max_eval_examples=20, **files))[0]["validation"]["source"]
              for _ in range(2)]
    assert picked[0] == picked[1] and len(set(picked[0])) == 20  # the same sample on every run
    assert max(int(s.split()[1]) for s in picked[0]) >= 100  # spread over the split, not its first 20 lines
    assert len(load_data(NLGDataArguments(task="files", **files))[0]["validation"]) == 200


def test_eval_only_label(tmp_path):
    (tmp_path / "teacher-abc" / "model").mkdir(parents=True)
    (tmp_path / "ckpt").mkdir()
    assert eval_only_label(str(tmp_path / "teacher-abc" / "model")) == "teacher-abc"  # lexkd's <run>/model layout
    assert eval_only_label(str(tmp_path / "ckpt") + "/") == "ckpt"
    assert eval_only_label("google/t5-small") == "google--t5-small"  # a hub id


def test_bad_input_is_refused_clearly(files, tmp_path, student_checkpoint, teacher_init, capsys):
    args = common_args(files, tmp_path / "out", student_checkpoint, teacher_init)
    assert run_script(args + ["--method", "word_kd", "--teacher_init", str(tmp_path / "absent")]) == 2
    assert "absent" in capsys.readouterr().err
    (files / "short.tgt").write_text("one\ntwo\n")
    bad = [a if a != str(files / "valid.tgt") else str(files / "short.tgt") for a in args]
    assert run_script(bad + ["--method", "sft"]) == 2
    assert "short.tgt" in capsys.readouterr().err
    # A teacher with another vocabulary.
    other_tokenizer = train_wordpiece_tokenizer(["completely different words here"] * 20, vocab_size=60, min_frequency=1)
    other = tmp_path / "other-teacher"
    from lexkd.models.seq2seq import build_bert2bert

    bert = tmp_path / "other-bert"
    BertForPreTraining(BertConfig(vocab_size=len(other_tokenizer), hidden_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=64)).save_pretrained(bert)
    other_tokenizer.save_pretrained(bert)
    build_bert2bert(bert, tokenizer=other_tokenizer).save_pretrained(other)
    other_tokenizer.save_pretrained(other)
    assert run_script(args + ["--method", "word_kd", "--teacher", str(other)]) == 2
    assert "vocabulary" in capsys.readouterr().err
    # ... and as --teacher_init (a seq2seq checkpoint to train further) likewise
    assert run_script(args + ["--method", "word_kd", "--teacher_init", str(other)]) == 2
    assert "vocabulary" in capsys.readouterr().err and not list((tmp_path / "out").glob("teacher-*/model"))


def test_a_cache_with_a_foreign_record_is_refused(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / pseudo_targets.META_NAME).write_text(json.dumps({"key": {"teacher": "x"}, "num_rows": 1}))
    with pytest.raises(ValueError, match="another teacher"):
        pseudo_targets.read_cache(folder, {"teacher": "y"})
    assert pseudo_targets.read_cache(tmp_path / "missing", {"teacher": "y"}) is None


class CopyModel(torch.nn.Module):
    """Generates its input: perfect predictions where every target equals its source."""

    def __init__(self, tokenizer):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        ids = {"decoder_start_token_id": tokenizer.cls_token_id, "pad_token_id": tokenizer.pad_token_id,
               "eos_token_id": tokenizer.sep_token_id}
        self.generation_config, self.config = GenerationConfig(**ids), BertConfig(**ids)

    @property
    def device(self):
        return self.weight.device

    def generate(self, input_ids, attention_mask=None, generation_config=None):
        return input_ids


def test_perfect_predictions_score_100_and_others_less(tmp_path, tokenizer):
    sources = make_texts(5, seed=8)
    scores = {}
    for name, targets in (("perfect", sources), ("reversed", [" ".join(s.split()[::-1]) for s in sources])):
        data = datasets.DatasetDict(validation=datasets.Dataset.from_dict({"source": sources, "target": targets}))
        row = evaluate_and_record(CopyModel(tokenizer), tokenizer, data, NLGModelArguments(eval_num_beams=1),
                                  NLGDataArguments(task="files"), tmp_path, label=name, kind="test", source="test",
                                  train_time_s=0.0, settings={}, train_examples=0)
        scores[name] = row["metrics"]["validation"]
        assert json.loads((tmp_path / name / "metrics.json").read_text())["bleu"] == pytest.approx(scores[name]["bleu"])
    assert scores["perfect"] == {"bleu": 100.0, "chrf": 100.0, "rouge1": 100.0, "rouge2": 100.0, "rougeL": 100.0}
    assert scores["reversed"]["bleu"] < 100 and scores["reversed"]["rougeL"] < 100
    assert scores["reversed"]["rouge1"] == 100.0  # the same words in another order


def test_output_root_and_resume_flag(tmp_path):
    model_args = NLGModelArguments(output_root=str(tmp_path / "runs" / "{task}"))
    assert output_root_for(model_args, NLGDataArguments(task="org/data")) == tmp_path / "runs" / "org--data"

    def args(value):
        return Seq2SeqDistillationArguments(output_dir=str(tmp_path / "run"), report_to="none", use_cpu=True,
                                            resume_from_checkpoint=value)

    assert resume_checkpoint(args(None)) is None
    with pytest.raises(FileNotFoundError, match="no checkpoint-\\* folder in .*run"):
        resume_checkpoint(args("true"))
    for step in (2, 10, 12):  # complete checkpoints' files (checkpoint-12 is incomplete: no trainer state)
        folder = tmp_path / "run" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        for name in ("model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth") + (
                ("trainer_state.json",) if step != 12 else ()):
            (folder / name).write_text(json.dumps({"global_step": step}) if name.endswith(".json") else "")
    assert resume_checkpoint(args("true")) == resume_checkpoint(args("last")) == str(tmp_path / "run" / "checkpoint-10")
    assert resume_checkpoint(args(str(tmp_path / "run" / "checkpoint-2"))) == str(tmp_path / "run" / "checkpoint-2")
    with pytest.raises(FileNotFoundError, match="checkpoint-7: no such checkpoint folder"):
        resume_checkpoint(args(str(tmp_path / "run" / "checkpoint-7")))


def test_train_time_of_a_resumed_run_counts_the_earlier_process(files, tmp_path, student_checkpoint, teacher_init):
    root = tmp_path / "out"
    args = common_args(files, root, student_checkpoint, teacher_init) + [
        "--method", "sft", "--max_steps", "4", "--save_strategy", "steps", "--save_steps", "2", "--save_total_limit", "3"]
    assert run_script(args) == 0
    first = json.loads((root / "sft" / "checkpoint-2" / "training_seconds.json").read_text())
    assert first["complete"] and first["seconds"] > 0
    row = next(r for r in map(json.loads, (root / "results.jsonl").read_text().splitlines()) if r["model"] == "sft")
    assert row["train_time_s"] >= first["seconds"]
    # as a kill after checkpoint-2 leaves the folder, with the first process having trained 1,000 s by then
    shutil.rmtree(root / "sft" / "checkpoint-4")
    shutil.rmtree(root / "sft" / "model")
    (root / "sft" / "checkpoint-2" / "training_seconds.json").write_text(json.dumps({"seconds": 1000.0,
                                                                                     "complete": True}))
    assert run_script(args + ["--resume_from_checkpoint", "last"]) == 0
    row = next(r for r in map(json.loads, (root / "results.jsonl").read_text().splitlines()) if r["model"] == "sft")
    assert 1000 < row["train_time_s"] < 1000 + 120
    assert json.loads((root / "sft" / "checkpoint-4" / "training_seconds.json").read_text())["seconds"] > 1000


def test_training_clock_on_a_checkpoint_without_its_file_counts_this_process_and_says_so(tmp_path, caplog):
    from lexkd.utils.runs import TrainingClock

    (tmp_path / "checkpoint-2").mkdir()
    with caplog.at_level("WARNING"):
        clock = TrainingClock(tmp_path / "checkpoint-2")
    assert clock.before == 0 and not clock.complete and "training_seconds.json" in caplog.text
    assert TrainingClock(None).complete and TrainingClock(None).seconds == 0
