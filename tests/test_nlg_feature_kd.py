"""hr_kd and ar_kd (KD4Gen's hidden-state and attention-relation baselines): their formulas, zero for a student
equal to its teacher, gradient-accumulation invariance, and the errors for models they cannot compare."""

from __future__ import annotations

import copy

import datasets
import pytest
import torch
import torch.nn.functional as F
from conftest import make_texts, save_tiny_bert
from transformers import BertConfig, BertForPreTraining, DataCollatorForSeq2Seq

from lexkd.models.seq2seq import build_bert2bert, decoder_input_ids_from_labels
from lexkd.models.seq2seq_features import use_eager_attention
from lexkd.seq2seq.data import tokenize_pairs
from lexkd.seq2seq.trainer import Seq2SeqDistillationArguments, Seq2SeqDistillationTrainer


@pytest.fixture(scope="module")
def batch(tokenizer):
    texts = make_texts(6, seed=41)
    pairs = datasets.Dataset.from_dict({"source": texts, "target": [" ".join(t.split()[:5]) for t in texts]})
    rows = tokenize_pairs(pairs, tokenizer, max_source_length=16, max_target_length=8,
                          decoder_start_token_id=tokenizer.cls_token_id)
    return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)([rows[i] for i in range(len(rows))])


@pytest.fixture(scope="module")
def student(student_checkpoint, tokenizer):
    return build_bert2bert(student_checkpoint, tokenizer=tokenizer)


@pytest.fixture(scope="module")
def wide_teacher(tmp_path_factory, tokenizer):
    folder = save_tiny_bert(tmp_path_factory.mktemp("wide") / "model", tokenizer, hidden_size=48, seed=4)
    return build_bert2bert(folder, tokenizer=tokenizer, seed=5)


def trainer(tmp_path, student, teacher, method, **settings):
    args = Seq2SeqDistillationArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True, seed=0,
                                        method=method, **settings)
    return Seq2SeqDistillationTrainer(model=copy.deepcopy(student), args=args, teacher=copy.deepcopy(teacher),
                                      train_dataset=[0])


def loss_and_parts(trainer, batches):
    """The loss of each micro-batch of one accumulation window and the parts summed over them."""
    prepared, counts = trainer.get_batch_samples(iter([dict(b) for b in batches]), len(batches), torch.device("cpu"))
    losses, parts = [], {}
    for micro_batch in prepared:
        loss, micro_parts = trainer._feature_kd_loss(trainer.model, micro_batch, micro_batch["labels"], counts)
        losses.append(loss)
        for name, value in micro_parts.items():
            parts[name] = parts.get(name, 0.0) + float(value)
    return losses, parts


@pytest.mark.parametrize("method,part", [("hr_kd", "hidden_loss"), ("ar_kd", "attention_loss")])
def test_a_student_equal_to_its_teacher_has_no_feature_term(tmp_path, student, batch, method, part):
    kd = trainer(tmp_path, student, student, method)
    kd.model.eval()
    (loss,), parts = loss_and_parts(kd, [batch])
    assert parts[part] == pytest.approx(0.0, abs=1e-6)
    assert loss.item() == pytest.approx(parts["ce_loss"], rel=1e-6)


def features(model, batch):
    labels = batch["labels"]
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True,
                 output_attentions=True, decoder_input_ids=decoder_input_ids_from_labels(model, labels))


def masked_mean(values, mask):
    return (values * mask).sum() / mask.sum()


def test_ar_kd_is_ce_plus_the_last_layers_attention_kl(tmp_path, student, tokenizer, batch):
    other = build_bert2bert(save_tiny_bert(tmp_path / "other", tokenizer, seed=9), tokenizer=tokenizer, seed=10)
    kd = trainer(tmp_path, student, other, "ar_kd", attention_loss_weight=3.0)
    kd.model.eval()
    (loss,), parts = loss_and_parts(kd, [batch])
    s, t = copy.deepcopy(student), copy.deepcopy(other)
    for model in (s, t):
        use_eager_attention(model)
    with torch.no_grad():
        out_s, out_t = features(s.eval(), batch), features(t, batch)
    labels, source = batch["labels"], batch["attention_mask"].bool()

    def attention_kl(a_s, a_t, mask):
        a_s, a_t = a_s.double(), a_t.double()
        per_query = (a_t * (a_t.clamp_min(1e-12).log() - a_s.clamp_min(1e-12).log())).sum(-1).mean(1)  # (B, Q)
        return masked_mean(per_query, mask)

    term = (attention_kl(out_s.encoder_attentions[-1], out_t.encoder_attentions[-1], source)
            + attention_kl(out_s.decoder_attentions[-1], out_t.decoder_attentions[-1], labels != -100))
    ce = F.cross_entropy(out_s.logits.double().flatten(0, 1), labels.flatten(), ignore_index=-100)
    assert parts["attention_loss"] == pytest.approx(term.item(), rel=1e-4) and term.item() > 1e-4
    assert loss.item() == pytest.approx(ce.item() + 3.0 * term.item(), rel=1e-4)


def test_hr_kd_is_ce_plus_the_projected_mse_on_both_stacks(tmp_path, student, wide_teacher, batch):
    kd = trainer(tmp_path, student, wide_teacher, "hr_kd", hidden_loss_weight=0.5, hidden_layer_map="uniform")
    kd.model.eval()
    (loss,), parts = loss_and_parts(kd, [batch])
    projectors = kd.model.hidden_projectors
    assert projectors["encoder"].layer_map == [(1, 1), (2, 2)] and len(list(projectors.parameters())) == 8
    with torch.no_grad():
        out_s, out_t = features(kd.model.model, batch), features(wide_teacher, batch)
    labels = batch["labels"]
    term = 0.0
    for side, mask in (("encoder", batch["attention_mask"].bool()), ("decoder", labels != -100)):
        states_s, states_t = getattr(out_s, f"{side}_hidden_states"), getattr(out_t, f"{side}_hidden_states")
        for (i, j), linear in zip(projectors[side].layer_map, projectors[side].maps, strict=True):
            with torch.no_grad():
                projected = states_s[i] @ linear.weight.T + linear.bias
            term += masked_mean((projected.double() - states_t[j].double()).pow(2).mean(-1), mask).item()
    ce = F.cross_entropy(out_s.logits.double().flatten(0, 1), labels.flatten(), ignore_index=-100)
    assert parts["hidden_loss"] == pytest.approx(term, rel=1e-4)
    assert loss.item() == pytest.approx(ce.item() + 0.5 * term, rel=1e-4)


@pytest.mark.parametrize("method", ["hr_kd", "ar_kd"])
def test_gradient_accumulation_gives_the_whole_batchs_gradient(tmp_path, student, wide_teacher, batch, method):
    teacher = wide_teacher if method == "hr_kd" else student
    halves = [{k: v[:2] for k, v in batch.items()}, {k: v[2:] for k, v in batch.items()}]
    grads = []
    for batches in ([batch], halves):
        kd = trainer(tmp_path, student, teacher, method)
        kd.model.eval()
        if method == "ar_kd":  # a teacher that differs from the student (the same in both runs): a gradient
            torch.manual_seed(0)
            with torch.no_grad():
                for parameter in kd.teacher.parameters():
                    parameter.add_(0.05 * torch.randn_like(parameter))
        losses, _ = loss_and_parts(kd, batches)
        sum(losses).backward()
        grads.append({n: p.grad.clone() for n, p in kd.model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-6, rtol=1e-4, msg=name)


def test_models_the_terms_cannot_compare_are_refused(tmp_path, student, wide_teacher, tokenizer):
    with pytest.raises(ValueError, match=r"does not fit the encoders: the student's has 2 layers, the teacher's 2.*"
                                         r"\[\(1, 5\)\] outside"):
        trainer(tmp_path, student, wide_teacher, "hr_kd", hidden_layer_map="1:5")
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=128)
    BertForPreTraining(config).save_pretrained(tmp_path / "four-heads")
    tokenizer.save_pretrained(tmp_path / "four-heads")
    four_heads = build_bert2bert(tmp_path / "four-heads", tokenizer=tokenizer)
    with pytest.raises(ValueError, match="student's encoder has 2 heads and the teacher's 4, and no head mapping"):
        trainer(tmp_path, student, four_heads, "ar_kd")
    with pytest.raises(ValueError, match="--hidden_loss_weight must be finite and >= 0"):
        Seq2SeqDistillationArguments(output_dir=str(tmp_path), method="hr_kd", hidden_loss_weight=-1.0)
    with pytest.raises(ValueError, match="needs a teacher"):
        Seq2SeqDistillationTrainer(model=student, args=Seq2SeqDistillationArguments(
            output_dir=str(tmp_path), method="ar_kd", report_to="none", use_cpu=True), train_dataset=[0])
