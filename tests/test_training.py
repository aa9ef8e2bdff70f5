"""Few-step runs of the trainer and the main job on a tiny corpus made in the test."""

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

from lexkd.mlm.data import prepare_mlm_data
from lexkd.mlm.teachers import Teacher
from lexkd.mlm.trainer import DistillationArguments
from lexkd.mlm.training import train_masked_lm
from lexkd.models.masked_lm import build_student

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import pretrain_multiteacher  # noqa: E402
from conftest import make_texts  # noqa: E402


def tiny_args(output_dir, **changes):
    values = dict(output_dir=str(output_dir), max_steps=6, per_device_train_batch_size=4, learning_rate=1e-3,
                  logging_steps=2, eval_strategy="steps", eval_steps=3, save_steps=3, report_to="none",
                  use_cpu=True, disable_tqdm=True, seed=7, alpha=0.5, weighting="entropy", temperature=2.0)
    values.update(changes)
    return DistillationArguments(**values)


def tiny_model(tokenizer, seed=0, layers=1):
    return build_student(len(tokenizer), num_hidden_layers=layers, hidden_size=32, num_attention_heads=2, seed=seed)


@pytest.fixture(scope="module")
def data(tokenizer, texts):
    docs = [[t] for t in texts]
    return prepare_mlm_data(docs[:250], docs[250:], tokenizer, max_seq_length=16)


@pytest.fixture(scope="module")
def teachers(tokenizer):
    return [Teacher(f"t{i}", tiny_model(tokenizer, seed=10 + i, layers=i + 1).eval(), tokenizer) for i in range(2)]


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def test_resume_reaches_same_weights_as_uninterrupted_run(tmp_path, tokenizer, data, teachers, monkeypatch):
    full = tiny_model(tokenizer)
    train_masked_lm(full, tokenizer, data, tiny_args(tmp_path / "full"), teachers=teachers)

    # Interrupted run: stop after the step-3 checkpoint, then resume in a fresh process-like setting.
    import lexkd.mlm.training as pretraining

    original = pretraining.MultiTeacherDistillationTrainer

    class Interrupted(original):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.add_callback(StopAt(3))

    monkeypatch.setattr(pretraining, "MultiTeacherDistillationTrainer", Interrupted)
    part = tiny_model(tokenizer)
    train_masked_lm(part, tokenizer, data, tiny_args(tmp_path / "part"), teachers=teachers)
    monkeypatch.setattr(pretraining, "MultiTeacherDistillationTrainer", original)
    assert (tmp_path / "part" / "checkpoint-3").is_dir() and not (tmp_path / "part" / "checkpoint-6").exists()
    torch.manual_seed(999)  # the RNG state must come from the checkpoint, not from here
    resumed = tiny_model(tokenizer, seed=123)  # different init: weights must come from the checkpoint
    train_masked_lm(resumed, tokenizer, data, tiny_args(tmp_path / "part"), teachers=teachers, resume=True)

    full_state, resumed_state = full.state_dict(), resumed.state_dict()
    assert not torch.equal(full_state["bert.embeddings.word_embeddings.weight"],
                           tiny_model(tokenizer).state_dict()["bert.embeddings.word_embeddings.weight"])
    for name, tensor in full_state.items():
        assert torch.allclose(tensor, resumed_state[name], atol=1e-6), name


def test_resume_without_checkpoint_is_an_error(tmp_path, tokenizer, data):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train_masked_lm(tiny_model(tokenizer), tokenizer, data, tiny_args(tmp_path / "empty"), resume=True)


def test_fresh_run_refuses_an_interrupted_run_folder(tmp_path, tokenizer, data):
    (tmp_path / "run" / "checkpoint-2").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="interrupted run.*--resume"):
        train_masked_lm(tiny_model(tokenizer), tokenizer, data, tiny_args(tmp_path / "run", alpha=0.0))


def test_distillation_logs_teacher_weights_and_writes_run_folder(tmp_path, tokenizer, data, teachers):
    results = train_masked_lm(tiny_model(tokenizer), tokenizer, data, tiny_args(tmp_path / "run", weighting="gold_prob"), teachers=teachers)
    run = tmp_path / "run"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_logs = [r for r in records if "loss" in r and "eval_loss" not in r]
    assert train_logs and all({"teacher_weight/t0", "teacher_weight/t1", "kd_loss", "mlm_loss"} <= r.keys() for r in train_logs)
    assert all(abs(r["teacher_weight/t0"] + r["teacher_weight/t1"] - 1) < 1e-4 for r in train_logs)
    assert any("eval_loss" in r for r in records)
    assert {"loss", "perplexity", "accuracy", "parameters"} <= results.keys()
    assert json.loads((run / "run_config.json").read_text())["teachers"] == ["t0", "t1"]
    assert (run / "model" / "config.json").is_file() and (run / "model" / "tokenizer.json").is_file()
    assert (run / "learning_curves.png").stat().st_size > 0
    assert "gold_prob" in (run / "report.md").read_text()
    card = (run / "model" / "README.md").read_text()  # the model card, with the run's own figures
    assert "`t0`, `t1`" in card and "| weighting rule | gold_prob |" in card
    assert f"| steps | {results['steps']} |" in card and f"{results['loss']:.4g}" in card


def test_alpha_zero_needs_no_teacher_and_alpha_positive_does(tmp_path, tokenizer, data):
    train_masked_lm(tiny_model(tokenizer), tokenizer, data, tiny_args(tmp_path / "mlm", alpha=0.0, max_steps=2))
    with pytest.raises(ValueError, match="at least one teacher"):
        train_masked_lm(tiny_model(tokenizer), tokenizer, data, tiny_args(tmp_path / "kd", max_steps=2))


@pytest.mark.parametrize("change, message", [
    ({"alpha": 1.5}, "alpha must be in"), ({"temperature": 0.0}, "temperature must be finite and > 0"),
    ({"weighting": "vote"}, "valid rules"), ({"weight_temperature": -1.0}, "weight_temperature"),
])
def test_bad_distillation_arguments(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        tiny_args(tmp_path, **change)


# ---------------------------------------------------------------- the main job, end to end

def job_argv(root, corpus, *extra):
    return ["--output_dir", str(root), "--corpus", str(corpus), "--vocab_size", "120", "--max_seq_length", "16",
            "--teacher_max_steps", "2", "--max_steps", "3", "--eval_steps", "2", "--save_steps", "2",
            "--logging_steps", "1", "--per_device_train_batch_size", "4", "--validation_fraction", "0.1",
            "--student_hidden_size", "32", "--student_heads", "2", "--student_layers", "1", "--use_cpu",
            "--disable_tqdm", "true", *extra]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(make_texts(200, seed=5)) + "\n")
    return path


@pytest.fixture(scope="module")
def finished_job(tmp_path_factory, corpus_file):
    root = tmp_path_factory.mktemp("job") / "run"
    assert pretrain_multiteacher.main(job_argv(root, corpus_file)) == 0
    return root


def test_main_job_writes_every_output(finished_job):
    root = finished_job
    for path in ["run_config.json", "teachers/teacher-large/report.md", "tokenizer/tokenizer.json",
                 "teachers/teacher-large/model/config.json",
                 "teachers/teacher-small/model/config.json", "report.md", "learning_curves.png", "results.json"]:
        assert (root / path).is_file(), path
    for student in ["student-distilled", "student-mlm"]:
        for path in ["run_config.json", "metrics.jsonl", "eval_results.json", "model/config.json", "model/tokenizer.json",
                     "report.md", "learning_curves.png"]:
            assert (root / student / path).is_file(), f"{student}/{path}"
    report = (root / "report.md").read_text()
    assert "| teacher-large | teacher |" in report and "| student-mlm |" in report
    assert "## What distillation did" in report and "teacher_weight" not in report
    results = json.loads((root / "results.json").read_text())["results"]
    assert results["student-distilled"]["parameters"] == results["student-mlm"]["parameters"]
    assert results["teacher-large"]["parameters"] > results["teacher-small"]["parameters"]


def same_weights(folder_a: Path, folder_b: Path) -> bool:
    from safetensors.torch import load_file

    a, b = load_file(folder_a / "model.safetensors"), load_file(folder_b / "model.safetensors")
    return a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)


def test_main_job_reuses_finished_teachers(finished_job, corpus_file, tmp_path, monkeypatch):
    import lexkd.mlm.job as job
    from lexkd.utils.fingerprints import sha256_of_file

    root = tmp_path / "run"
    shutil.copytree(finished_job, root)
    teacher_files = {p: sha256_of_file(p) for p in sorted((root / "teachers").glob("*/model/*"))}
    trained, train = [], job.train_masked_lm  # the teachers' trainer (the script trains the students itself)
    monkeypatch.setattr(job, "train_masked_lm", lambda *a, **k: trained.append(a[3].output_dir) or train(*a, **k))
    assert pretrain_multiteacher.main(job_argv(root, corpus_file, "--baseline", "false")) == 0
    assert trained == []
    assert {p: sha256_of_file(p) for p in sorted((root / "teachers").glob("*/model/*"))} == teacher_files
    assert len(teacher_files) >= 2 * 3  # config, weights, tokenizer of each teacher
    assert same_weights(root / "student-distilled/model", finished_job / "student-distilled/model")


class Killed(Exception):
    """What a killed process would leave: everything written before this point, nothing after."""


class KillOnFirstSave(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        raise Killed(f"{args.output_dir} at step {state.global_step}")


def test_main_job_resumed_after_a_kill_gives_the_uninterrupted_result(finished_job, corpus_file, tmp_path, monkeypatch):
    import lexkd.mlm.training as job
    from lexkd.utils.runs import is_interrupted

    root = tmp_path / "run"
    shutil.copytree(finished_job, root, ignore=shutil.ignore_patterns("student-*", "report.md", "results.json"))
    original = job.MultiTeacherDistillationTrainer

    class KilledTrainer(original):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.add_callback(KillOnFirstSave())

    monkeypatch.setattr(job, "MultiTeacherDistillationTrainer", KilledTrainer)
    with pytest.raises(Killed, match="student-distilled at step 2"):  # the teachers are reused, the student dies
        pretrain_multiteacher.main(job_argv(root, corpus_file))
    monkeypatch.setattr(job, "MultiTeacherDistillationTrainer", original)
    assert is_interrupted(root / "student-distilled") and not (root / "student-mlm").exists()
    assert pretrain_multiteacher.main(job_argv(root, corpus_file, "--resume")) == 0
    for student in ("student-distilled", "student-mlm"):  # resumed, and started: both as in the uninterrupted job
        assert same_weights(root / student / "model", finished_job / student / "model"), student
    assert (json.loads((root / "student-distilled/eval_results.json").read_text())["loss"]
            == json.loads((finished_job / "student-distilled/eval_results.json").read_text())["loss"])


def test_resume_continues_whichever_stage_was_interrupted(finished_job, corpus_file, tmp_path):
    # A job stopped while training its second teacher (after a checkpoint): that teacher continues
    # from its checkpoint, the students, which never started, start; the finished teacher is reused.
    root = tmp_path / "run"
    shutil.copytree(finished_job, root)
    shutil.rmtree(root / "teachers/teacher-small/model")
    assert any((root / "teachers/teacher-small").glob("checkpoint-*"))
    for student in ["student-distilled", "student-mlm"]:
        shutil.rmtree(root / student)
    stamp = (root / "teachers/teacher-large/model/config.json").stat().st_mtime_ns
    log_before = (root / "teachers/teacher-small/metrics.jsonl").read_text()
    assert pretrain_multiteacher.main(job_argv(root, corpus_file, "--resume")) == 0
    assert (root / "teachers/teacher-large/model/config.json").stat().st_mtime_ns == stamp
    assert (root / "teachers/teacher-small/model/config.json").is_file()
    assert (root / "teachers/teacher-small/metrics.jsonl").read_text().startswith(log_before)  # continued, not restarted
    assert (root / "student-mlm/model/config.json").is_file() and (root / "report.md").is_file()


def run_job(argv, capsys):
    code = pretrain_multiteacher.run_cli(lambda: pretrain_multiteacher.main(argv))
    return code, capsys.readouterr().err


def test_bad_inputs_give_clear_errors(tmp_path, corpus_file, finished_job, capsys, texts):
    cases = [
        (["--teachers", str(tmp_path / "missing-teacher")], "does not exist"),
        (["--weighting", "vote"], "valid rules"),
        (["--alpha", "2"], "alpha must be in [0, 1]"),
        (["--temperature", "0"], "temperature must be finite and > 0"),
    ]
    for extra, message in cases:
        code, err = run_job(job_argv(tmp_path / "out", corpus_file, *extra), capsys)
        assert code == 2 and message in err and "Traceback" not in err, (extra, err)
    code, err = run_job(job_argv(tmp_path / "out", tmp_path / "no-such-corpus.txt"), capsys)
    assert code == 2 and "no-such-corpus.txt" in err
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    code, err = run_job(job_argv(tmp_path / "out", empty), capsys)
    assert code == 2 and "empty" in err.lower()
    code, err = run_job(job_argv(tmp_path / "fresh", corpus_file, "--resume"), capsys)
    assert code == 2 and ("no checkpoint" in err or "does not exist" in err), err
    assert not (tmp_path / "out" / "report.md").exists()


def test_teachers_with_different_vocabularies(tmp_path, corpus_file, finished_job, capsys, texts):
    from lexkd.data.tokenization import train_wordpiece_tokenizer

    # another vocabulary (not the same tokens under other ids, which would be mapped: tests/test_vocabulary_map.py)
    tokenizer = train_wordpiece_tokenizer(texts, vocab_size=60, min_frequency=1)
    other = tmp_path / "other-teacher"
    tiny_model(tokenizer).save_pretrained(other)
    tokenizer.save_pretrained(other)
    teacher = finished_job / "teachers/teacher-large/model"
    code, err = run_job(job_argv(tmp_path / "out", corpus_file, "--teachers", str(teacher), str(other)), capsys)
    assert code == 2 and "maps onto the student's" in err and "only in part" in err and str(other) in err
    assert not (tmp_path / "out" / "report.md").exists()


def test_given_teachers_and_yaml_config(tmp_path, corpus_file, finished_job):
    teachers = [str(finished_job / f"teachers/{n}/model") for n in ("teacher-large", "teacher-small")]
    config = tmp_path / "job.yaml"
    config.write_text("weighting: max_prob\nbaseline: false\n")
    root = tmp_path / "given"
    assert pretrain_multiteacher.main(job_argv(root, corpus_file, "--config", str(config), "--teachers", *teachers)) == 0
    assert not (root / "student-mlm").exists() and not (root / "tokenizer").exists()
    assert json.loads((root / "student-distilled/run_config.json").read_text())["training"]["weighting"] == "max_prob"
    bad = tmp_path / "bad.yaml"
    bad.write_text("weigthing: max_prob\n")
    with pytest.raises(SystemExit):
        pretrain_multiteacher.main(job_argv(root, corpus_file, "--config", str(bad)))


def test_gradient_accumulation_gives_the_same_update(tmp_path, tokenizer, data, teachers):
    """batch 8 x 1 step == batch 4 x 2 accumulated micro-batches (SGD: Adam would hide a loss-scale bug)."""
    from lexkd.data.collators import mask_once

    premasked = type(data)(train=mask_once(data.train, tokenizer, seed=3), validation=data.validation, stats=data.stats)
    models = []
    for name, batch, accumulation in (("one", 8, 1), ("accumulated", 4, 2)):
        model = tiny_model(tokenizer)
        model.config.hidden_dropout_prob = model.config.attention_probs_dropout_prob = 0.0
        model = type(model)(model.config)
        model.load_state_dict(tiny_model(tokenizer).state_dict())
        args = tiny_args(tmp_path / name, max_steps=2, per_device_train_batch_size=batch,
                         gradient_accumulation_steps=accumulation, optim="sgd", learning_rate=0.5,
                         lr_scheduler_type="constant", eval_strategy="no", save_strategy="no", max_grad_norm=0.0)
        train_masked_lm(model, tokenizer, premasked, args, teachers=teachers)
        models.append(model.state_dict())
    initial = tiny_model(tokenizer).state_dict()
    moved = False
    for name, tensor in models[0].items():
        assert torch.allclose(tensor, models[1][name], atol=1e-5), name
        moved |= not torch.allclose(tensor, initial[name], atol=1e-4)
    assert moved


def test_help_explains_every_job_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        pretrain_multiteacher.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ["--teachers", "--weighting", "--alpha", "--temperature", "--weight_temperature", "--corpus",
                 "--baseline", "--resume", "--student_layers", "--vocab_size", "--config", "--teacher_max_steps"]:
        assert flag in text, flag
    assert "valid" not in text or "uniform, max_prob, entropy, gold_prob" in text


def test_unreachable_hub_teacher_is_a_clear_error(monkeypatch):
    import huggingface_hub.constants

    from lexkd.models.masked_lm import load_masked_lm

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # fail fast, no network wait
    with pytest.raises(OSError, match="not a local folder and the hub did not serve it"):
        load_masked_lm("lexkd-test-org/no-such-model", role="teacher 'x'")


@pytest.mark.slow
def test_main_job_on_real_text(tmp_path, shared_data):
    corpus = shared_data / "text" / "wikitext-2" / "valid.txt"
    if not corpus.is_file():
        pytest.skip(f"{corpus} is absent")
    root = tmp_path / "wiki"
    argv = job_argv(root, corpus, "--max_documents", "20")
    argv[argv.index("--vocab_size") + 1] = "600"
    assert pretrain_multiteacher.main(argv) == 0
    results = json.loads((root / "results.json").read_text())
    assert results["settings"]["train_documents"] + results["settings"]["validation_documents"] == 20
    assert results["results"]["student-distilled"]["masked_tokens"] > 50


# ---------------------------------------------------------------- masks with data-loader workers

def old_formula_masks(tokenizer, rows, batch_index, seed, mlm_probability=0.15):
    """Batch ``batch_index`` of ``rows`` as MaskedLMCollator masked it before the worker fix:
    DataCollatorForLanguageModeling with its generator seeded with seed * 1_000_003 + batch_index."""
    from transformers import DataCollatorForLanguageModeling

    masker = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability)
    masker.generator = torch.Generator()
    masker.generator.manual_seed(seed * 1_000_003 + batch_index)
    return masker([{"input_ids": list(ids)} for ids in rows])


def test_collator_masks_batch_i_from_the_seeded_formula(tokenizer, data):
    from lexkd.data.collators import MaskedLMCollator

    collator, batches = MaskedLMCollator(tokenizer, seed=7), [data.train[i:i + 4]["input_ids"] for i in (0, 4, 8)]
    for i, rows in enumerate(batches):
        got, want = collator([{"input_ids": ids} for ids in rows]), old_formula_masks(tokenizer, rows, i, seed=7)
        assert torch.equal(got["input_ids"], want["input_ids"]) and torch.equal(got["labels"], want["labels"]), i


def test_collator_pad_then_mask_is_a_call(tokenizer, data):
    from lexkd.data.collators import MaskedLMCollator

    rows = data.train[8:12]["input_ids"]
    padded = MaskedLMCollator(tokenizer).pad([{"input_ids": ids} for ids in rows])
    assert "labels" not in padded
    split = MaskedLMCollator(tokenizer, seed=7).mask(padded, batch_index=2)
    want = old_formula_masks(tokenizer, rows, 2, seed=7)
    assert torch.equal(split["input_ids"], want["input_ids"]) and torch.equal(split["labels"], want["labels"])
    assert (split["labels"] != -100).any()


def test_an_evaluation_set_that_is_not_pre_masked_is_a_clear_error(tmp_path, tokenizer, data):
    from lexkd.data.collators import MaskedLMCollator
    from lexkd.mlm.trainer import MultiTeacherDistillationTrainer
    from lexkd.models.masked_lm import MaskedPositionMLM

    trainer = MultiTeacherDistillationTrainer(model=MaskedPositionMLM(tiny_model(tokenizer)), args=tiny_args(tmp_path, alpha=0.0),
                                              eval_dataset=data.train, data_collator=MaskedLMCollator(tokenizer, seed=7))
    with pytest.raises(ValueError, match="mask_once"):
        trainer.evaluate()
    assert trainer.train_batches_masked == 0  # evaluation never draws from the training masks


def training_batches(tmp_path, tokenizer, train, workers):
    """Every training batch (input_ids, labels, attention_mask) of a 6-step run over ``train``."""
    from lexkd.data.collators import MaskedLMCollator
    from lexkd.mlm.trainer import MultiTeacherDistillationTrainer
    from lexkd.models.masked_lm import MaskedPositionMLM

    class Recording(MultiTeacherDistillationTrainer):
        def training_step(self, model, inputs, num_items_in_batch=None):
            recorded.append({k: inputs[k].detach().cpu().clone() for k in ("input_ids", "labels", "attention_mask")})
            return super().training_step(model, inputs, num_items_in_batch)

    recorded = []
    args = tiny_args(tmp_path, alpha=0.0, eval_strategy="no", save_strategy="no", dataloader_num_workers=workers)
    Recording(model=MaskedPositionMLM(tiny_model(tokenizer)), args=args, train_dataset=train,
              data_collator=MaskedLMCollator(tokenizer, seed=args.seed)).train()
    return recorded


@pytest.fixture(scope="module")
def small_train(data):
    return data.train.select(range(12))  # 3 batches of 4 per epoch: 6 steps span 2 epochs


@pytest.fixture(scope="module")
def batches_without_workers(tmp_path_factory, tokenizer, small_train):
    return training_batches(tmp_path_factory.mktemp("w0"), tokenizer, small_train, workers=0)


def test_training_masks_without_workers_are_the_seeded_formula_of_the_batch_index(batches_without_workers, tokenizer):
    assert len(batches_without_workers) == 6
    for i, batch in enumerate(batches_without_workers):
        original = torch.where(batch["labels"] != -100, batch["labels"], batch["input_ids"])  # (B, T)
        rows = [ids[:n].tolist() for ids, n in zip(original, batch["attention_mask"].sum(-1), strict=True)]
        want = old_formula_masks(tokenizer, rows, i, seed=7)
        assert torch.equal(batch["input_ids"], want["input_ids"]) and torch.equal(batch["labels"], want["labels"]), i


def test_two_workers_mask_each_batch_as_one_process_does(tmp_path, tokenizer, small_train, batches_without_workers):
    with_workers = training_batches(tmp_path, tokenizer, small_train, workers=2)
    assert len(with_workers) == len(batches_without_workers) == 6
    for i, (got, want) in enumerate(zip(with_workers, batches_without_workers, strict=True)):
        for key in ("input_ids", "labels"):
            assert torch.equal(got[key], want[key]), (i, key)
    patterns = {tuple((batch["labels"] != -100).flatten().tolist()) for batch in with_workers}
    assert len(patterns) == len(with_workers)  # no two batches share their masked positions


def test_resume_with_two_workers_reaches_bit_identical_weights(tmp_path, tokenizer, data, small_train, teachers,
                                                               monkeypatch):
    import lexkd.mlm.training as job

    # 3 steps per epoch: the run stops at step 4, one batch into the second epoch, so the resumed
    # masks must account for a whole epoch and a skipped batch.
    small = type(data)(train=small_train, validation=data.validation, stats=data.stats)

    def args(name):
        return tiny_args(tmp_path / name, save_steps=2, eval_strategy="no", dataloader_num_workers=2)

    full = tiny_model(tokenizer)
    train_masked_lm(full, tokenizer, small, args("full"), teachers=teachers)
    original = job.MultiTeacherDistillationTrainer

    class Interrupted(original):
        def __init__(self, *a, **kwargs):
            super().__init__(*a, **kwargs)
            self.add_callback(StopAt(4))

    monkeypatch.setattr(job, "MultiTeacherDistillationTrainer", Interrupted)
    train_masked_lm(tiny_model(tokenizer), tokenizer, small, args("part"), teachers=teachers)
    monkeypatch.setattr(job, "MultiTeacherDistillationTrainer", original)
    assert (tmp_path / "part" / "checkpoint-4").is_dir() and not (tmp_path / "part" / "checkpoint-6").exists()
    resumed = tiny_model(tokenizer, seed=123)
    train_masked_lm(resumed, tokenizer, small, args("part"), teachers=teachers, resume=True)
    initial = tiny_model(tokenizer).state_dict()
    assert not torch.equal(full.state_dict()["bert.embeddings.word_embeddings.weight"],
                           initial["bert.embeddings.word_embeddings.weight"])
    for name, tensor in full.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name
