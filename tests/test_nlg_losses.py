"""Each NLG method's loss, from Seq2SeqDistillationTrainer.compute_loss, equals its formula
recomputed here from the models' logits with torch.nn.functional (float64), on the sequences the
method says: gold, the teacher's beam output, teacher samples or the student's own samples.

Sampling uses top-k 1 where a test needs to know whose samples it got: a top-1 sample y of a model
is the one sequence whose every token is that model's argmax given the tokens before it, which
one teacher-forced pass checks.
"""

import datasets
import pytest
import torch
import torch.nn.functional as F
from conftest import make_texts, save_tiny_bert
from transformers import DataCollatorForSeq2Seq

from lexkd.models.seq2seq import build_bert2bert
from lexkd.seq2seq.data import tokenize_pairs
from lexkd.seq2seq.job import NLGDataArguments, NLGModelArguments, training_rows
from lexkd.seq2seq.trainer import Seq2SeqDistillationArguments, Seq2SeqDistillationTrainer


@pytest.fixture(scope="module")
def pairs():
    texts = make_texts(6, seed=31)
    return datasets.Dataset.from_dict({"source": texts, "target": [" ".join(t.split()[:5]) for t in texts]})


@pytest.fixture(scope="module")
def models(tmp_path_factory, student_checkpoint, tokenizer):
    teacher_checkpoint = save_tiny_bert(tmp_path_factory.mktemp("teacher") / "model", tokenizer, seed=7)
    return (build_bert2bert(student_checkpoint, tokenizer=tokenizer),
            build_bert2bert(teacher_checkpoint, tokenizer=tokenizer, seed=8))  # both in eval mode: no dropout


def collate(tokenizer, rows):
    return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)([rows[i] for i in range(len(rows))])


@pytest.fixture(scope="module")
def gold_batch(pairs, tokenizer):
    return collate(tokenizer, tokenize_pairs(pairs, tokenizer, max_source_length=16, max_target_length=8,
                                             decoder_start_token_id=tokenizer.cls_token_id))


def make_trainer(tmp_path, models, tokenizer, **kwargs):
    args = Seq2SeqDistillationArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True, seed=0,
                                        max_new_tokens=6, student_top_k=1, **kwargs)
    student, teacher = models
    return Seq2SeqDistillationTrainer(model=student, args=args, teacher=teacher, train_dataset=[0],
                                      data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100))


def trainer_loss(trainer, batches, step=0):
    """The loss of the first micro-batch of update ``step``, with the trainer's own batch preparation."""
    trainer.state.global_step = step
    prepared, counts = trainer.get_batch_samples(iter([dict(b) for b in batches]), len(batches), torch.device("cpu"))
    return trainer.compute_loss(trainer.model, prepared[0], num_items_in_batch=counts).item(), prepared


# ----- the formulas, by hand ---------------------------------------------------------------------
def logits(model, batch, labels, tokenizer):
    """Teacher-forced logits (B, L, V) in float64, the decoder input shifted right by hand."""
    shifted = torch.cat([torch.full_like(labels[:, :1], tokenizer.cls_token_id), labels[:, :-1]], 1)
    decoder_input_ids = shifted.masked_fill(shifted == -100, tokenizer.pad_token_id)
    with torch.no_grad():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     decoder_input_ids=decoder_input_ids).logits.double()


def per_token_mean(values, labels):
    mask = labels != -100
    return (values * mask).sum() / mask.sum()


def kl(log_a, log_b):
    """KL(a || b) per position from log-probabilities (..., V)."""
    return (log_a.exp() * (log_a - log_b)).sum(-1)


def distributions(models, batch, labels, tokenizer, temperature=1.0):
    student, teacher = models
    return (F.log_softmax(logits(student, batch, labels, tokenizer) / temperature, -1),
            F.log_softmax(logits(teacher, batch, labels, tokenizer) / temperature, -1))


def cross_entropy(model, batch, labels, tokenizer):
    return F.cross_entropy(logits(model, batch, labels, tokenizer).flatten(0, 1), labels.flatten(), ignore_index=-100)


def is_top1_output(model, batch, labels, tokenizer, eos_id, max_len):
    """Whether every row of ``labels`` is ``model``'s argmax continuation, ending at EOS or max_len."""
    argmax = logits(model, batch, labels, tokenizer).argmax(-1)
    mask = labels != -100
    last = labels.gather(1, (mask.sum(1, keepdim=True) - 1))
    return bool((argmax[mask] == labels[mask]).all()) and bool(((last == eos_id) | (mask.sum(1, keepdim=True) == max_len)).all())


# ----- word-level methods ------------------------------------------------------------------------
def test_sft_is_token_cross_entropy_on_gold(tmp_path, models, tokenizer, gold_batch):
    loss, _ = trainer_loss(make_trainer(tmp_path, models, tokenizer, method="sft"), [gold_batch])
    assert loss == pytest.approx(cross_entropy(models[0], gold_batch, gold_batch["labels"], tokenizer).item(), rel=1e-5)


@pytest.mark.parametrize("alpha,temperature", [(1.0, 1.0), (0.3, 2.0)])
def test_word_kd_mixes_t2_kl_and_ce_on_gold(alpha, temperature, tmp_path, models, tokenizer, gold_batch):
    trainer = make_trainer(tmp_path, models, tokenizer, method="word_kd", alpha=alpha, temperature=temperature)
    loss, _ = trainer_loss(trainer, [gold_batch])
    labels = gold_batch["labels"]
    log_q, log_p = distributions(models, gold_batch, labels, tokenizer, temperature)
    expected = alpha * temperature**2 * per_token_mean(kl(log_p, log_q), labels)  # KL(teacher || student)
    expected = expected + (1 - alpha) * cross_entropy(models[0], gold_batch, labels, tokenizer)
    assert loss == pytest.approx(expected.item(), rel=1e-5)


# ----- sequence-level methods: the rows come from the job, the loss from the trainer --------------
def rows_for(method, tmp_path, models, tokenizer, pairs, unlabeled, **model_kwargs):
    args = Seq2SeqDistillationArguments(output_dir=str(tmp_path / "run"), report_to="none", use_cpu=True,
                                        method=method)
    model_args = NLGModelArguments(generation_batch_size=4, **model_kwargs)
    data_args = NLGDataArguments(task="files", max_source_length=16, max_target_length=6)
    rows, _ = training_rows(args, model_args, data_args, datasets.DatasetDict(train=pairs), unlabeled, tokenizer,
                            models[1], "teacher-fingerprint", "teacher", tmp_path / "cache", tokenizer.cls_token_id)
    return rows


def test_seqkd_is_cross_entropy_on_the_teachers_beam_output(tmp_path, models, tokenizer, pairs):
    unlabeled = make_texts(3, seed=32)
    rows = rows_for("seqkd", tmp_path, models, tokenizer, pairs, unlabeled, seqkd_num_beams=2)
    assert len(rows) == len(pairs) + len(unlabeled)  # one beam output per labelled and unlabelled input
    batch = collate(tokenizer, rows)
    teacher = models[1]
    sources = tokenizer(list(pairs["source"]) + unlabeled, max_length=16, truncation=True, padding=True,
                        return_token_type_ids=False, return_tensors="pt")
    assert torch.equal(batch["input_ids"], sources["input_ids"])
    beams = teacher.generate(**sources, num_beams=2, do_sample=False, max_new_tokens=6, length_penalty=1.0,
                             decoder_start_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
                             pad_token_id=tokenizer.pad_token_id)[:, 1:]  # drop the start token
    is_eos = beams == tokenizer.sep_token_id
    beams = beams.masked_fill((is_eos.cumsum(1) - is_eos.long()) > 0, -100)  # nothing after the first EOS
    width = batch["labels"].shape[1]
    assert torch.equal(batch["labels"], F.pad(beams, (0, width - beams.shape[1]), value=-100)[:, :width])
    assert not torch.equal(batch["labels"][:len(pairs)], collate(tokenizer, tokenize_pairs(
        pairs, tokenizer, max_source_length=16, max_target_length=6))["labels"])  # not the gold targets
    loss, _ = trainer_loss(make_trainer(tmp_path, models, tokenizer, method="seqkd"), [batch])
    assert loss == pytest.approx(cross_entropy(models[0], batch, batch["labels"], tokenizer).item(), rel=1e-5)


def test_pseudo_targets_is_word_kd_on_gold_and_teacher_samples(tmp_path, models, tokenizer, pairs):
    unlabeled = make_texts(2, seed=33)
    rows = rows_for("pseudo_targets", tmp_path, models, tokenizer, pairs, unlabeled, num_pseudo_targets=2,
                    pt_top_k=1)
    gold = tokenize_pairs(pairs, tokenizer, max_source_length=16, max_target_length=6,
                          decoder_start_token_id=tokenizer.cls_token_id)
    assert len(rows) == len(pairs) + 2 * (len(pairs) + len(unlabeled))
    assert rows.select(range(len(pairs)))["labels"] == gold["labels"]  # the gold pairs first
    samples = collate(tokenizer, rows.select(range(len(pairs), len(rows))))
    assert is_top1_output(models[1], samples, samples["labels"], tokenizer, tokenizer.sep_token_id, 6)  # the teacher's
    assert not is_top1_output(models[0], samples, samples["labels"], tokenizer, tokenizer.sep_token_id, 6)
    loss, _ = trainer_loss(make_trainer(tmp_path, models, tokenizer, method="pseudo_targets"), [samples])
    log_q, log_p = distributions(models, samples, samples["labels"], tokenizer)
    assert loss == pytest.approx(per_token_mean(kl(log_p, log_q), samples["labels"]).item(), rel=1e-5)


# ----- methods with on-line student samples ------------------------------------------------------
def test_joint_teaching_trains_on_student_samples_on_its_share_of_micro_steps(tmp_path, models, tokenizer, gold_batch):
    trainer = make_trainer(tmp_path, models, tokenizer, method="joint_teaching", student_share=0.5)
    gold = gold_batch["labels"]
    replaced = []
    for step in range(4):
        loss, (batch,) = trainer_loss(trainer, [gold_batch], step=step)
        labels = batch["labels"]
        replaced.append(not torch.equal(labels, gold))
        log_q, log_p = distributions(models, gold_batch, labels, tokenizer)
        assert loss == pytest.approx(per_token_mean(kl(log_p, log_q), labels).item(), rel=1e-5)  # KD on those labels
        if replaced[-1]:
            assert is_top1_output(models[0], gold_batch, labels, tokenizer, tokenizer.sep_token_id, 6)  # the student's
            assert not is_top1_output(models[1], gold_batch, labels, tokenizer, tokenizer.sep_token_id, 6)
    assert replaced == [False, True, False, True]  # micro-steps 1 and 3 of 0..3
    # With accumulation the count runs over micro-steps: update 1 of 2 micro-batches is micro-steps 2 and 3.
    trainer = make_trainer(tmp_path, models, tokenizer, method="joint_teaching", student_share=0.5,
                           gradient_accumulation_steps=2)
    trainer.state.global_step = 1
    prepared, _ = trainer.get_batch_samples(iter([dict(gold_batch), dict(gold_batch)]), 2, torch.device("cpu"))
    assert [not torch.equal(b["labels"], gold) for b in prepared] == [False, True]


def f_distill_expected(divergence, models, batch, tokenizer, *, student_labels=None, beta=0.5, temperature=1.0):
    """f-DISTILL's step-wise losses (Wen et al. 2023), each term a per-token mean on its own samples."""
    def on(labels):
        log_q, log_p = distributions(models, batch, labels, tokenizer, temperature)
        return log_q, log_p, labels

    def mean(values, labels):
        return per_token_mean(values, labels)

    def js_terms(log_q, log_p):
        log_m = torch.logaddexp(torch.log(torch.tensor(beta, dtype=torch.float64)) + log_q,
                                torch.log(torch.tensor(1 - beta, dtype=torch.float64)) + log_p)
        return beta * kl(log_q, log_m), (1 - beta) * kl(log_p, log_m)

    def tvd(log_q, log_p):
        return 0.5 * (log_q.exp() - log_p.exp()).abs().sum(-1)

    teacher_side = on(batch["labels"])
    student_side = on(student_labels) if student_labels is not None else None
    if divergence == "kl":
        log_q, log_p, labels = teacher_side
        return mean(kl(log_p, log_q), labels)
    if divergence == "rkl":
        log_q, log_p, labels = student_side
        return mean(kl(log_q, log_p), labels)
    if divergence == "js":
        (sq, sp, s_labels), (tq, tp, t_labels) = student_side, teacher_side
        return mean(js_terms(sq, sp)[0], s_labels) + mean(js_terms(tq, tp)[1], t_labels)
    (sq, sp, s_labels), (tq, tp, t_labels) = student_side, teacher_side
    return 0.5 * mean(tvd(sq, sp), s_labels) + 0.5 * mean(tvd(tq, tp), t_labels)


@pytest.mark.parametrize("divergence,beta,temperature", [("kl", 0.5, 1.0), ("rkl", 0.5, 1.5), ("js", 0.85, 1.0),
                                                         ("tvd", 0.5, 2.0)])
def test_f_distill_is_the_stepwise_divergence_on_the_papers_samples(divergence, beta, temperature, tmp_path, models,
                                                                    tokenizer, gold_batch):
    # The rows stand for teacher samples (the job fills them so); the trainer adds the student's.
    trainer = make_trainer(tmp_path, models, tokenizer, method="f_distill", divergence=divergence, beta=beta,
                           temperature=temperature)
    loss, (batch,) = trainer_loss(trainer, [gold_batch])
    student_labels = batch.get("student_labels")
    assert (student_labels is not None) == (divergence != "kl")  # kl: teacher samples only; rkl: student; js, tvd: mix
    if student_labels is not None:
        assert is_top1_output(models[0], gold_batch, student_labels, tokenizer, tokenizer.sep_token_id, 6)
    expected = f_distill_expected(divergence, models, gold_batch, tokenizer, student_labels=student_labels, beta=beta,
                                  temperature=temperature)
    # float32 in the trainer against float64 here; js's KL(q || m) of near distributions cancels the most.
    assert loss == pytest.approx(expected.item(), rel=1e-4)
