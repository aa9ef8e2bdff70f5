"""Seq2SeqDistillationTrainer resumes exactly: killed at a checkpoint and resumed, a run ends with the
same weights (bit for bit) and logs the same values as the run that was never interrupted.

SGD with a constant learning rate (Adam could hide a scale error), dropout on (its RNG state must
come back from the checkpoint), gradient accumulation 2 and an epoch boundary after the resume.
"""

import datasets
import pytest
import torch
from conftest import make_texts, save_tiny_bert
from transformers import DataCollatorForSeq2Seq, TrainerCallback

from lexkd.models.seq2seq import build_bert2bert
from lexkd.seq2seq.data import tokenize_pairs
from lexkd.seq2seq.trainer import Seq2SeqDistillationArguments, Seq2SeqDistillationTrainer

LOGGED = ("loss", "ce_loss", "kd_loss", "hidden_loss", "attention_loss", "student_sample_length")


@pytest.fixture(scope="module")
def rows(tokenizer):
    texts = make_texts(24, seed=21)
    pairs = datasets.Dataset.from_dict({"source": texts, "target": [" ".join(t.split()[1:7]) for t in texts]})
    return tokenize_pairs(pairs, tokenizer, max_source_length=16, max_target_length=8,
                          decoder_start_token_id=tokenizer.cls_token_id)


@pytest.fixture(scope="module")
def teacher_checkpoint(tmp_path_factory, tokenizer):
    return save_tiny_bert(tmp_path_factory.mktemp("teacher") / "model", tokenizer, seed=5)


@pytest.fixture(scope="module")
def wide_teacher_checkpoint(tmp_path_factory, tokenizer):
    """A teacher 48 wide against the 32-wide student: hr_kd then trains projectors, which must resume too."""
    return save_tiny_bert(tmp_path_factory.mktemp("wide-teacher") / "model", tokenizer, hidden_size=48, seed=6)


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def run(output_dir, method, extra, rows, tokenizer, student_checkpoint, teacher_checkpoint, *, stop_at=None,
        resume=None, perturb=False):
    args = Seq2SeqDistillationArguments(
        output_dir=str(output_dir), method=method, per_device_train_batch_size=4, gradient_accumulation_steps=2,
        max_steps=4, optim="sgd", learning_rate=0.05, lr_scheduler_type="constant", save_strategy="steps",
        save_steps=2, logging_steps=1, report_to="none", use_cpu=True, disable_tqdm=True, seed=3, max_new_tokens=6,
        **extra)
    student = build_bert2bert(student_checkpoint, tokenizer=tokenizer, seed=11)
    if perturb:  # every weight differs from the checkpoint's: all must be loaded on resume
        with torch.no_grad():
            for parameter in student.parameters():
                parameter.add_(torch.randn_like(parameter))
    trainer = Seq2SeqDistillationTrainer(
        model=student, args=args, train_dataset=rows, processing_class=tokenizer,
        teacher=build_bert2bert(teacher_checkpoint, tokenizer=tokenizer, seed=12),
        data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100),
        callbacks=[StopAt(stop_at)] if stop_at else None)
    trainer.train(resume_from_checkpoint=resume)
    logs = {log["step"]: {k: log[k] for k in LOGGED if k in log} for log in trainer.state.log_history if "loss" in log}
    return student, logs


@pytest.mark.parametrize("method,extra", [
    ("sft", {}),
    ("seqkd", {}),  # sft on the teacher's beam output: the rows differ, the training does not
    ("word_kd", {"alpha": 0.5, "temperature": 2.0}),
    ("pseudo_targets", {"alpha": 0.8}),  # word-level KD on rows that include teacher samples
    ("joint_teaching", {"student_share": 0.5}),
    ("f_distill", {"divergence": "rkl"}),  # student samples at every step
    ("f_distill", {"divergence": "js", "beta": 0.5}),  # teacher rows and student samples (mix)
    ("f_distill", {"divergence": "tvd"}),
    ("f_distill", {"divergence": "kl"}),
    ("hr_kd", {"hidden_loss_weight": 2.0}),
    ("ar_kd", {"attention_loss_weight": 2.0}),
])
def test_resume_equals_the_uninterrupted_run(method, extra, tmp_path, rows, tokenizer, student_checkpoint,
                                             teacher_checkpoint, wide_teacher_checkpoint):
    teacher = wide_teacher_checkpoint if method == "hr_kd" else teacher_checkpoint
    common = (method, extra, rows, tokenizer, student_checkpoint, teacher)
    full, full_logs = run(tmp_path / "full", *common)
    run(tmp_path / "part", *common, stop_at=2)
    assert (tmp_path / "part" / "checkpoint-2").is_dir() and not (tmp_path / "part" / "checkpoint-4").exists()
    torch.manual_seed(999)  # the RNG state must come from the checkpoint, not from here
    resumed, resumed_logs = run(tmp_path / "part", *common, resume=str(tmp_path / "part" / "checkpoint-2"),
                                perturb=True)

    initial = build_bert2bert(student_checkpoint, tokenizer=tokenizer, seed=11).state_dict()
    full_state, resumed_state = full.state_dict(), resumed.state_dict()
    assert full_state.keys() == resumed_state.keys()
    assert not torch.equal(full_state["encoder.embeddings.word_embeddings.weight"],
                           initial["encoder.embeddings.word_embeddings.weight"])  # training moved the weights
    different = [name for name, tensor in full_state.items() if not torch.equal(tensor, resumed_state[name])]
    assert different == []
    # The log history: steps 1-2 from the checkpoint, 3-4 logged after the resume; the same values.
    assert set(resumed_logs) == {1, 2, 3, 4}
    assert resumed_logs == full_logs  # losses, loss parts, student sample lengths
    # joint_teaching samples on micro-steps 1, 3, 5, 7 (share 0.5): one per update of 2 micro-steps.
    uses_student = method == "joint_teaching" or extra.get("divergence") in ("rkl", "js", "tvd")
    assert all(("student_sample_length" in log) == uses_student for log in resumed_logs.values())
