"""Logged loss parts are averaged as lexkd.utils.loss_logging documents, in both trainers.

The documented average of a part over a logging window: the mean over the window's optimizer
updates of (the part summed over the update's counted positions) / (their number). The runs have
learning rate 0 and no dropout, so the model is fixed and the expected values are recomputed
here from the batches the trainer saw, with torch.nn.functional only. Micro-batches of one update
hold different numbers of counted positions, so a plain mean over micro-batches differs.
"""

import datasets
import pytest
import torch
import torch.nn.functional as F
from conftest import make_texts, save_tiny_bert
from transformers import DataCollatorForSeq2Seq

from lexkd.data.collators import MaskedLMCollator
from lexkd.mlm.data import prepare_mlm_data
from lexkd.mlm.teachers import Teacher
from lexkd.mlm.trainer import DistillationArguments, MultiTeacherDistillationTrainer
from lexkd.models.masked_lm import MaskedPositionMLM, build_student
from lexkd.models.seq2seq import build_bert2bert
from lexkd.seq2seq.data import tokenize_pairs
from lexkd.seq2seq.trainer import Seq2SeqDistillationArguments, Seq2SeqDistillationTrainer

ALPHA, T = 0.5, 2.0
COMMON = dict(max_steps=4, per_device_train_batch_size=3, gradient_accumulation_steps=2, learning_rate=0.0,
              logging_steps=2, report_to="none", use_cpu=True, disable_tqdm=True, save_strategy="no", seed=0)


def no_dropout(model):
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model


def capture_batches(trainer):
    """Record (update index, a copy of the batch) at every training micro-step."""
    seen, original = [], trainer.compute_loss

    def compute_loss(model, inputs, return_outputs=False, num_items_in_batch=None):
        if model.training:
            seen.append((trainer.state.global_step, {k: v.clone() for k, v in inputs.items()}))
        return original(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)

    trainer.compute_loss = compute_loss
    return seen


def documented_average(seen, per_batch, window):
    """Per window of ``window`` updates: mean over its updates of sum(part) / count, from ``per_batch(batch)``."""
    sums, counts = {}, {}
    for update, batch in seen:
        total, count = per_batch(batch)
        sums[update] = sums.get(update, 0.0) + total
        counts[update] = counts.get(update, 0) + count
    updates = sorted(sums)
    assert len({counts[u] for u in updates}) > 1 or len(seen) > len(updates)  # the weighting matters
    windows = [updates[i:i + window] for i in range(0, len(updates), window)]
    return [sum(sums[u] / counts[u] for u in w) / len(w) for w in windows]


def kl_sum(student_logits, teacher_logits, temperature):
    log_q = F.log_softmax(student_logits.double() / temperature, -1)
    log_p = F.log_softmax(teacher_logits.double() / temperature, -1)
    return (log_p.exp() * (log_p - log_q)).sum()


def logged(trainer, name):
    return [log[name] for log in trainer.state.log_history if "loss" in log and name in log]


# ----- seq2seq -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rows(tokenizer):
    texts = make_texts(12, seed=11)
    pairs = datasets.Dataset.from_dict({"source": texts, "target": [" ".join(t.split()[:7]) for t in texts]})
    return tokenize_pairs(pairs, tokenizer, max_source_length=16, max_target_length=8,
                          decoder_start_token_id=tokenizer.cls_token_id)


def seq2seq_logits(model, batch, tokenizer):
    labels = batch["labels"]
    start = torch.full_like(labels[:, :1], tokenizer.cls_token_id)
    decoder_inputs = torch.cat([start, labels[:, :-1]], 1).masked_fill(
        torch.cat([start, labels[:, :-1]], 1) == -100, tokenizer.pad_token_id)  # shifted right by hand
    with torch.no_grad():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     decoder_input_ids=decoder_inputs).logits  # (B, L, V)


@pytest.fixture(scope="module")
def teacher_checkpoint(tmp_path_factory, tokenizer):
    return save_tiny_bert(tmp_path_factory.mktemp("teacher") / "model", tokenizer, seed=1)


@pytest.mark.parametrize("method", ["sft", "word_kd"])
def test_seq2seq_parts_are_the_documented_average(method, tmp_path, rows, tokenizer, student_checkpoint,
                                                  teacher_checkpoint):
    student = no_dropout(build_bert2bert(student_checkpoint, tokenizer=tokenizer))
    teacher = build_bert2bert(teacher_checkpoint, tokenizer=tokenizer, seed=1)
    args = Seq2SeqDistillationArguments(output_dir=str(tmp_path), method=method, alpha=ALPHA, temperature=T,
                                        **COMMON)
    trainer = Seq2SeqDistillationTrainer(model=student, args=args, train_dataset=rows, teacher=teacher,
                                         data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100))
    seen = capture_batches(trainer)
    trainer.train()

    def ce(batch):
        logits = seq2seq_logits(student, batch, tokenizer)
        labels = batch["labels"]
        return F.cross_entropy(logits.flatten(0, 1).double(), labels.flatten(), reduction="sum").item(), int(
            (labels != -100).sum())

    def kd(batch):
        mask = batch["labels"] != -100
        total = kl_sum(seq2seq_logits(student, batch, tokenizer)[mask], seq2seq_logits(teacher, batch, tokenizer)[mask], T)
        return total.item(), int(mask.sum())

    expected_ce = documented_average(seen, ce, window=2)
    assert len(expected_ce) == 2
    if method == "sft":
        assert logged(trainer, "ce_loss") == pytest.approx(expected_ce, rel=1e-5)
        assert logged(trainer, "ce_loss") == pytest.approx(logged(trainer, "loss"), rel=1e-6)  # the part is the loss
    else:
        assert logged(trainer, "ce_loss") == pytest.approx(expected_ce, rel=1e-5)
        assert logged(trainer, "kd_loss") == pytest.approx(documented_average(seen, kd, window=2), rel=1e-5)
        mixed = [ALPHA * T**2 * k + (1 - ALPHA) * c for k, c in zip(logged(trainer, "kd_loss"), logged(trainer, "ce_loss"), strict=True)]
        assert logged(trainer, "loss") == pytest.approx(mixed, rel=1e-6)


# ----- MLM ---------------------------------------------------------------------------------------
def test_mlm_parts_are_the_documented_average(tmp_path, tokenizer, texts):
    data = prepare_mlm_data([[t] for t in texts[:40]], [[t] for t in texts[40:50]], tokenizer, max_seq_length=16)
    student = no_dropout(build_student(len(tokenizer), num_hidden_layers=1, hidden_size=32, num_attention_heads=2))
    teachers = [Teacher(f"t{i}", build_student(len(tokenizer), num_hidden_layers=1, hidden_size=32,
                                               num_attention_heads=2, seed=10 + i).eval(), tokenizer) for i in range(2)]
    args = DistillationArguments(output_dir=str(tmp_path), alpha=ALPHA, temperature=T, **COMMON)
    trainer = MultiTeacherDistillationTrainer(
        model=MaskedPositionMLM(student), args=args, train_dataset=data.train, teachers=teachers,
        data_collator=MaskedLMCollator(tokenizer, mlm_probability=0.3, seed=0))
    seen = capture_batches(trainer)
    trainer.train()

    def mlm(batch):
        masked = batch["labels"] != -100
        with torch.no_grad():
            logits = student(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask")).prediction_logits
        return F.cross_entropy(logits[masked].double(), batch["labels"][masked], reduction="sum").item(), int(masked.sum())

    assert logged(trainer, "mlm_loss") == pytest.approx(documented_average(seen, mlm, window=2), rel=1e-5)
    mixed = [ALPHA * T**2 * k + (1 - ALPHA) * m for k, m in zip(logged(trainer, "kd_loss"), logged(trainer, "mlm_loss"), strict=True)]
    assert logged(trainer, "loss") == pytest.approx(mixed, rel=1e-6)
    weights = [sum(log[f"teacher_weight/{t.label}"] for t in teachers) for log in trainer.state.log_history if "loss" in log]
    assert weights == pytest.approx([1.0, 1.0])  # the teachers' weights at each position sum to 1
