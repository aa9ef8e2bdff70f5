"""LMGC scoring and prediction, LMGC-M lexical pretraining: tiny BertForPreTraining models built in the test."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import FIXTURE_XML, make_wsd_corpus, run_named_script
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertForPreTraining,
    MegatronBertConfig,
    MegatronBertForPreTraining,
    RobertaConfig,
    RobertaForMaskedLM,
    TrainingArguments,
)

from lexkd.data.tokenization import train_wordpiece_tokenizer
from lexkd.lexical.glosses import NoSensesError, candidate_groups, tokenize_pairs
from lexkd.lexical.lmgc_m import LexicalPretrainingArguments, lmgc_m_dataset, train_lexical
from lexkd.mlm.data import prepare_validation_set
from lexkd.mlm.teachers import Teacher
from lexkd.models.masked_lm import MASKED_HEADS, count_parameters
from lexkd.models.pair_head import MaskedPositionPreTraining, nsp_head
from lexkd.tasks.wsd.corpus import read_key_file, write_key_file
from lexkd.tasks.wsd.lmgc import LMGCSystem, NSPScorer, disambiguate, get_scorer, load_lmgc_model
from lexkd.tasks.wsd.scoring import score_files
from lexkd.tasks.wsd.systems import WSDEvaluator

TEXTS = (["he sat on the bank of the river and the dog ran to the house with money"] * 5
         + ['the " river " bank : sloping land beside a river , a place that keeps money , a long ridge or pile'] * 5
         + ["a dog : a small animal kept at the house"] * 5)
SPEC = [
    (["he", "sat", "on", "the", "river", "bank"], 5, "bank", "NOUN", ["bank%1:17:01::"]),
    (["the", "bank", "keeps", "money"], 1, "bank", "NOUN", ["bank%1:14:00::"]),
    (["the", "dog", "ran"], 1, "dog", "NOUN", ["dog%1:05:00::"]),
    (["a", "bank", "of", "the", "river"], 1, "bank", "NOUN", ["bank%1:17:01::"]),
]


@pytest.fixture(scope="module")
def tokenizer():
    return train_wordpiece_tokenizer(TEXTS, vocab_size=100, min_frequency=1)


def tiny_pretraining_model(tokenizer, seed=0, layers=2):
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    return BertForPreTraining(config)


@pytest.fixture
def corpus():
    return make_wsd_corpus(SPEC)


def held_out_set(tokenizer):
    """The MLM job's held-out set (its one builder) of one document per text."""
    return prepare_validation_set([[t] for t in TEXTS], tokenizer, max_seq_length=16, max_eval_sequences=512)


@torch.no_grad()
def independent_mlm_loss(model, held_out):
    """Nats per masked token of ``model``'s full MLM output on the fixed masks, one unpadded row at a time."""
    model.eval()
    total, count = 0.0, 0
    for row in held_out:
        labels = torch.tensor([row["labels"]])
        inputs = {k: torch.tensor([row[k]]) for k in ("input_ids", "attention_mask", "token_type_ids") if k in row}
        logits = model(**inputs).prediction_logits  # (1, T, V)
        total += torch.nn.functional.cross_entropy(logits[0], labels[0], ignore_index=-100, reduction="sum").item()
        count += int((labels != -100).sum())
    return total / count


def test_nsp_head_is_required(tokenizer):
    mlm_only = BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1,
                                          num_attention_heads=2, intermediate_size=64))
    with pytest.raises(ValueError, match="BertForPreTraining"):
        nsp_head(mlm_only)
    with pytest.raises(ValueError, match="BertForPreTraining"):
        MaskedPositionPreTraining(mlm_only)
    with pytest.raises(ValueError, match="BertForPreTraining"):
        get_scorer("nsp", mlm_only)
    with pytest.raises(ValueError, match="valid scorers"):
        get_scorer("vote", tiny_pretraining_model(tokenizer))


def masked_batch(tokenizer, corpus, fake_wordnet):
    """Two gloss/context pairs, padded, with labels at a few (non-padding) positions."""
    data = tokenize_pairs(candidate_groups(corpus, wordnet=fake_wordnet), tokenizer, max_length=32)
    batch = dict(tokenizer.pad([{k: data[i][k] for k in ("input_ids", "token_type_ids", "attention_mask")}
                                for i in (0, 4)], return_tensors="pt"))
    labels = torch.full_like(batch["input_ids"], -100)
    labels[0, [2, 5]] = batch["input_ids"][0, [2, 5]]
    labels[1, 3] = batch["input_ids"][1, 3]
    return batch, labels


def test_masked_position_pretraining_uses_the_masked_head_table(tokenizer, corpus, monkeypatch, fake_wordnet):
    model = tiny_pretraining_model(tokenizer).eval()
    batch, labels = masked_batch(tokenizer, corpus, fake_wordnet)
    calls, bert_head = [], MASKED_HEADS["bert"]
    monkeypatch.setitem(MASKED_HEADS, "bert", lambda m, hidden: calls.append(tuple(hidden.shape)) or bert_head(m, hidden))
    with torch.no_grad():
        outputs = MaskedPositionPreTraining(model)(labels=labels, **batch)
        full = model(**batch)  # BertForPreTraining's own forward: both heads at every position
    assert calls == [(3, 32)]  # the table's head, at the 3 masked positions only
    assert torch.equal(outputs["labels"], labels[labels != -100])
    assert torch.allclose(outputs["logits"], full.prediction_logits[labels != -100], atol=1e-5)
    assert torch.allclose(outputs["nsp_logits"], full.seq_relationship_logits, atol=1e-6)


def test_masked_position_pretraining_serves_any_type_the_table_knows(tokenizer, corpus, monkeypatch, fake_wordnet):
    torch.manual_seed(0)
    megatron = MegatronBertForPreTraining(MegatronBertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=128)).eval()
    with pytest.raises(ValueError, match="no masked-position MLM head for model type 'megatron-bert'.*MASKED_HEADS knows"):
        MaskedPositionPreTraining(megatron)
    monkeypatch.setitem(MASKED_HEADS, "megatron-bert", lambda m, hidden: m.cls.predictions(hidden))
    batch, labels = masked_batch(tokenizer, corpus, fake_wordnet)
    with torch.no_grad():
        outputs = MaskedPositionPreTraining(megatron)(labels=labels, **batch)
        full = megatron(**batch)
    assert torch.allclose(outputs["logits"], full.prediction_logits[labels != -100], atol=1e-5)
    assert torch.allclose(outputs["nsp_logits"], full.seq_relationship_logits, atol=1e-6)
    roberta = RobertaForMaskedLM(RobertaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1,
                                               num_attention_heads=2, intermediate_size=64))
    with pytest.raises(ValueError, match="no next-sentence-prediction head"):  # in the table, but no pair head
        MaskedPositionPreTraining(roberta)


def test_nsp_scorer_is_softmax_of_the_next_sentence_logits(tokenizer, corpus, fake_wordnet):
    model = tiny_pretraining_model(tokenizer).eval()
    data = tokenize_pairs(candidate_groups(corpus, wordnet=fake_wordnet), tokenizer, max_length=32)
    rows = [{k: data[i][k] for k in ("input_ids", "token_type_ids", "attention_mask")} for i in range(3)]
    batch = dict(tokenizer.pad(rows, return_tensors="pt"))
    with torch.no_grad():
        expected = torch.softmax(model(**batch).seq_relationship_logits, -1)[:, 0]
        assert torch.allclose(NSPScorer()(model, batch), expected, atol=1e-6)


def test_predict_takes_the_highest_scoring_candidate(tokenizer, corpus, monkeypatch, fake_wordnet):
    system = LMGCSystem(tiny_pretraining_model(tokenizer), tokenizer, wordnet=fake_wordnet)
    fixed = {0: [0.1, 0.7, 0.2], 1: [0.5, 0.2, 0.9], 2: [0.3], 3: [0.4, 0.4, 0.1]}  # group -> scores
    monkeypatch.setattr(system, "score_groups", lambda groups: [fixed[i] for i in range(len(groups))])
    answers = system.predict(corpus)
    assert answers == {"d0.s0.t0": "bank%1:14:00::", "d0.s1.t0": "bank%1:17:00::", "d0.s2.t0": "dog%1:05:00::",
                       "d0.s3.t0": "bank%1:17:01::"}  # the tie goes to the earlier WordNet sense
    assert system.stats.groups == 4 and system.stats.skipped == 0


def test_all_candidates_of_a_target_share_one_forward(tokenizer, corpus, fake_wordnet):
    class Spy(NSPScorer):
        sizes: list = []

        def __call__(self, model, batch):
            self.sizes.append(batch["input_ids"].shape[0])
            return super().__call__(model, batch)

    system = LMGCSystem(tiny_pretraining_model(tokenizer), tokenizer, batch_size=4, wordnet=fake_wordnet)
    system.scorer = Spy()
    groups = candidate_groups(corpus, training=False, wordnet=fake_wordnet)
    scores = system.score_groups(groups)
    assert [len(s) for s in scores] == [3, 3, 1, 3]
    assert Spy.sizes == [3, 4, 3]  # groups packed whole: [3], [3 + 1], [3]
    # Each score is P(match) of its own pair: the pair alone, unpadded, through the full model.
    pairs = tokenize_pairs(groups, tokenizer, max_length=128)
    model = system.model.eval()
    with torch.no_grad():
        alone = [torch.softmax(model(**{k: torch.tensor([pairs[i][k]]) for k in ("input_ids", "token_type_ids",
                                                                                 "attention_mask")}
                                     ).seq_relationship_logits, -1)[0, 0].item() for i in range(len(pairs))]
    assert sum(scores, []) == pytest.approx(alone, abs=1e-5)


def test_classifier_starts_from_the_next_sentence_head(tmp_path, tokenizer, corpus, fake_wordnet):
    model = tiny_pretraining_model(tokenizer)
    model.save_pretrained(tmp_path / "ckpt")
    tokenizer.save_pretrained(tmp_path / "ckpt")
    classifier = load_lmgc_model(tmp_path / "ckpt").eval()
    assert torch.equal(classifier.classifier.weight, nsp_head(model).weight.flip(0))
    groups = candidate_groups(corpus, wordnet=fake_wordnet)
    by_classifier = LMGCSystem(classifier, tokenizer, wordnet=fake_wordnet).score_groups(groups)
    by_nsp = LMGCSystem(model.eval(), tokenizer, scorer="nsp", wordnet=fake_wordnet).score_groups(groups)
    assert [len(g) for g in by_classifier] == [len(g) for g in by_nsp]
    assert sum(by_classifier, []) == pytest.approx(sum(by_nsp, []), abs=1e-5)
    with pytest.raises(ValueError, match="not an LMGC classifier"):
        LMGCSystem.from_pretrained(tmp_path / "ckpt", scorer="classifier")
    assert isinstance(LMGCSystem.from_pretrained(tmp_path / "ckpt").scorer, NSPScorer)
    mlm_only = BertForMaskedLM(model.config)
    mlm_only.save_pretrained(tmp_path / "mlm")
    tokenizer.save_pretrained(tmp_path / "mlm")
    with pytest.raises(ValueError, match="no trained next-sentence head"):
        LMGCSystem.from_pretrained(tmp_path / "mlm", scorer="nsp")


def test_lmgc_fine_tuning_runs_and_saves_a_classifier(tmp_path, tokenizer, corpus, fake_wordnet):
    tiny_pretraining_model(tokenizer).save_pretrained(tmp_path / "ckpt")
    system = LMGCSystem(load_lmgc_model(tmp_path / "ckpt"), tokenizer, max_length=32, wordnet=fake_wordnet)
    args = TrainingArguments(output_dir=str(tmp_path / "lmgc"), max_steps=3, per_device_train_batch_size=4,
                             learning_rate=1e-3, report_to="none", use_cpu=True, disable_tqdm=True, save_strategy="no")
    system.fit(corpus, args=args)
    assert (tmp_path / "lmgc" / "model" / "config.json").is_file()
    loaded = LMGCSystem.from_pretrained(tmp_path / "lmgc" / "model", wordnet=fake_wordnet)
    assert loaded.scorer.name == "classifier"
    assert set(loaded.predict(corpus)) == {i.id for i in corpus.instances}


def test_disambiguate_ranks_senses_with_keys(tokenizer, fake_wordnet):
    model = tiny_pretraining_model(tokenizer)
    ranked = disambiguate(model, tokenizer, "He sat on the Bank of the river.", "bank", "NOUN", wordnet=fake_wordnet)
    assert [r["sense_key"] for r in sorted(ranked, key=lambda r: r["sense_key"])] == sorted(
        ["bank%1:17:01::", "bank%1:14:00::", "bank%1:17:00::"])
    assert [r["score"] for r in ranked] == sorted((r["score"] for r in ranked), reverse=True)
    assert {"sense_key", "synset", "gloss", "score"} <= ranked[0].keys()
    by_index = disambiguate(model, tokenizer, "He sat on the Bank of the river.", 4, "n", wordnet=fake_wordnet)
    assert [r["sense_key"] for r in by_index] == [r["sense_key"] for r in ranked]


@pytest.mark.parametrize("target, pos, lemma, error, message", [
    ("money", "NOUN", None, ValueError, "not a word of the sentence"),
    (12, "NOUN", None, ValueError, "outside"),
    ("bank", "NOUNISH", None, ValueError, "valid ones are"),
    ("river", "NOUN", None, NoSensesError, "no NOUN sense of 'river'"),
    ("bank", "VERB", None, NoSensesError, "no VERB sense"),
])
def test_disambiguate_bad_inputs(tokenizer, target, pos, lemma, error, message, fake_wordnet):
    with pytest.raises(error, match=message):
        disambiguate(tiny_pretraining_model(tokenizer), tokenizer, "the river bank", target, pos, lemma=lemma,
                     wordnet=fake_wordnet)


def lexical_args(output_dir, **changes):
    values = dict(output_dir=str(output_dir), max_steps=4, per_device_train_batch_size=4, learning_rate=1e-3,
                  logging_steps=2, eval_strategy="steps", eval_steps=2, save_steps=2, report_to="none", use_cpu=True,
                  disable_tqdm=True, seed=3, alpha=0.0, nsp_weight=1.0)
    values.update(changes)
    return LexicalPretrainingArguments(**values)


@pytest.mark.parametrize("with_teachers", [False, True])
def test_lmgc_m_run_keeps_parameter_count_and_writes_run_folder(tmp_path, tokenizer, corpus, with_teachers, fake_wordnet):
    model = tiny_pretraining_model(tokenizer)
    before = count_parameters(model)
    train = lmgc_m_dataset(candidate_groups(corpus, wordnet=fake_wordnet), tokenizer, max_length=32)
    assert train["next_sentence_label"] == [0, 1, 1, 1, 0, 1, 0, 0, 1, 1]  # 0 = the gloss is a gold sense
    held_out = held_out_set(tokenizer)
    teachers = [Teacher(f"t{i}", tiny_pretraining_model(tokenizer, seed=9 + i, layers=1).eval(), tokenizer)
                for i in range(2)] if with_teachers else []
    args = lexical_args(tmp_path / "run", alpha=0.5 if teachers else 0.0)
    dev = WSDEvaluator(corpus, tokenizer, max_length=32, wordnet=fake_wordnet)
    results = train_lexical(model, tokenizer, train, held_out, args, teachers=teachers, dev_evaluator=dev)

    assert results["parameters_before"] == results["parameters_after"] == results["parameters_trained"] == before
    assert results["parameters_unchanged"] is True
    assert {"loss", "accuracy", "perplexity"} <= results["mlm_before"].keys() <= results["mlm_after"].keys()
    # The held-out losses are those of the initial and of the saved model on the same fixed masks,
    # recomputed here from the full MLM output of each.
    run = tmp_path / "run"
    saved = BertForPreTraining.from_pretrained(run / "model")
    assert results["mlm_before"]["loss"] == pytest.approx(independent_mlm_loss(tiny_pretraining_model(tokenizer),
                                                                               held_out), rel=1e-5)
    assert results["mlm_after"]["loss"] == pytest.approx(independent_mlm_loss(saved, held_out), rel=1e-5)
    for name in ("run_config.json", "metrics.jsonl", "lexical_results.json", "report.md", "model/config.json"):
        assert (run / name).is_file(), name
    logs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_logs = [r for r in logs if "nsp_loss" in r]
    assert train_logs and all("nsp_accuracy" in r and "mlm_loss" in r for r in train_logs)
    assert any("eval_loss" in r for r in logs)
    assert all(("kd_loss" in r) == with_teachers for r in train_logs)
    # Dev WSD through the next-sentence head, every instance answered: the written answers are those
    # of the initial and of the saved model, and the F1 is Scorer.java's on those files.
    write_key_file(corpus.gold(), tmp_path / "gold.key.txt")
    for when, scored_model in (("before", tiny_pretraining_model(tokenizer)), ("after", saved)):
        dev_result = results[f"wsd_dev_{when}"]
        assert dev_result["answered"] == len(corpus.instances)
        answers = LMGCSystem(scored_model, tokenizer, scorer="nsp", max_length=32, wordnet=fake_wordnet).predict(corpus)
        assert read_key_file(run / f"wsd_dev_{when}.key.txt") == {i: (k,) for i, k in answers.items()}
        assert dev_result["F1"] == score_files(tmp_path / "gold.key.txt", run / f"wsd_dev_{when}.key.txt")["F1"]
    report = (run / "report.md").read_text()
    assert "Parameters unchanged: True" in report and "dev WSD F1 (NSP head)" in report
    assert count_parameters(saved) == before and saved.config.lexkd["lmgc_m"]["match_label"] == 0


def test_wsd_evaluator_scores_the_answers_on_a_constructed_case(tokenizer, corpus, monkeypatch, fake_wordnet):
    fixed = {0: [0.1, 0.7, 0.2], 1: [0.5, 0.2, 0.9], 2: [0.3], 3: [0.4, 0.4, 0.1]}  # group -> P(match)
    monkeypatch.setattr(LMGCSystem, "score_groups", lambda self, groups: [fixed[i] for i in range(len(groups))])
    result = WSDEvaluator(corpus, tokenizer, wordnet=fake_wordnet)(tiny_pretraining_model(tokenizer))
    # answers: bank%1:14:00:: (gold 17:01, wrong), bank%1:17:00:: (gold 14:00, wrong), dog (right), bank%1:17:01:: (right)
    assert (result["correct"], result["answered"], result["P"], result["R"], result["F1"]) == (2, 4, 50.0, 50.0, 50.0)
    assert result["per_pos"]["NOUN"]["F1"] == 50.0 and result["skipped"]["groups"] == 4
    with pytest.raises(ValueError, match="no gold keys"):
        WSDEvaluator(make_wsd_corpus([(w, i, lemma, pos, []) for w, i, lemma, pos, _ in SPEC]), tokenizer)


def test_lmgc_m_resumed_beyond_its_steps_equals_an_uninterrupted_run(tmp_path, tokenizer, corpus, fake_wordnet):
    # N steps, then resumed from checkpoint-N to M > N: bit-identical weights to M steps in one go
    # (SGD and a constant learning rate, so neither Adam's state nor the schedule can hide a difference).
    # An epoch is 3 batches of the 10 pairs: the run resumes inside the first and goes on into the second.
    first_steps, last_steps = 2, 5
    train = lmgc_m_dataset(candidate_groups(corpus, wordnet=fake_wordnet), tokenizer, max_length=32)
    held_out = held_out_set(tokenizer)
    sgd = dict(optim="sgd", learning_rate=0.5, lr_scheduler_type="constant", warmup_steps=0, max_grad_norm=0.0,
               save_steps=first_steps, eval_strategy="no", logging_steps=1)
    full = tiny_pretraining_model(tokenizer)
    train_lexical(full, tokenizer, train, held_out, lexical_args(tmp_path / "full", max_steps=last_steps, **sgd))
    train_lexical(tiny_pretraining_model(tokenizer), tokenizer, train, held_out,
                  lexical_args(tmp_path / "part", max_steps=first_steps, **sgd))
    assert (tmp_path / "part" / f"checkpoint-{first_steps}").is_dir()
    torch.manual_seed(999)  # the RNG state must come from the checkpoint, not from here
    resumed = tiny_pretraining_model(tokenizer, seed=123)  # different init: the weights must come from the checkpoint
    results = train_lexical(resumed, tokenizer, train, held_out, lexical_args(tmp_path / "part", max_steps=last_steps, **sgd),
                            resume=True)
    assert results["steps"] == last_steps
    initial = tiny_pretraining_model(tokenizer).state_dict()
    full_state, resumed_state = full.state_dict(), resumed.state_dict()
    assert not torch.equal(full_state["bert.embeddings.word_embeddings.weight"],
                           initial["bert.embeddings.word_embeddings.weight"])
    assert not torch.equal(full_state["cls.seq_relationship.weight"], initial["cls.seq_relationship.weight"])
    for name, tensor in full_state.items():
        assert torch.equal(tensor, resumed_state[name]), name


def test_lmgc_m_resume_needs_a_checkpoint(tmp_path, tokenizer, corpus, fake_wordnet):
    train = lmgc_m_dataset(candidate_groups(corpus, wordnet=fake_wordnet), tokenizer, max_length=32)
    held_out = held_out_set(tokenizer)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        (tmp_path / "empty").mkdir()
        train_lexical(tiny_pretraining_model(tokenizer), tokenizer, train, held_out, lexical_args(tmp_path / "empty"),
                      resume=True)


def test_lmgc_m_held_out_set_is_the_mlm_jobs(tmp_path, tokenizer, corpus, fake_wordnet):
    # pretrain_lexical.py's data (lexkd.lexical.job.prepare_data) and the main MLM job's
    # (prepare_job, here with a stand-in teacher cache so that no teacher is trained) give the same
    # held-out documents and the same fixed masks for the same corpus flags and seeds.
    from types import SimpleNamespace

    from conftest import make_texts

    from lexkd.data.arguments import CorpusArguments
    from lexkd.lexical.job import LexicalJobArguments, prepare_data, resolve_job
    from lexkd.mlm.arguments import TeacherArguments
    from lexkd.mlm.job import prepare_job
    from lexkd.tasks.wsd.raganato import write_raganato

    (tmp_path / "corpus.txt").write_text("\n".join(make_texts(80, seed=3)) + "\n")
    tokenizer.save_pretrained(tmp_path / "tokenizer")
    corpus_args = CorpusArguments(corpus=str(tmp_path / "corpus.txt"), validation_fraction=0.25, split_seed=5,
                                  max_seq_length=16, max_eval_sequences=12, eval_masking_seed=77,
                                  tokenizer=str(tmp_path / "tokenizer"))
    train_args = lexical_args(tmp_path / "run", mlm_probability=0.2)
    stand_in_cache = SimpleNamespace(teacher_names=[], path="stand-in", check=lambda *args: None,
                                     check_pinned=lambda **kwargs: None)
    job_tokenizer, mlm_data, _ = prepare_job(TeacherArguments(), corpus_args, train_args, teacher_cache=stand_in_cache)

    write_raganato(corpus, tmp_path / "semcor.data.xml", tmp_path / "semcor.gold.key.txt")
    job = resolve_job(LexicalJobArguments(student="unused", semcor=str(tmp_path / "semcor.data.xml")), train_args)
    lexical = prepare_data(job, corpus_args, train_args, job_tokenizer, wordnet=fake_wordnet)
    assert len(lexical.held_out) == 12 and lexical.held_out.to_dict() == mlm_data.validation.to_dict()
    assert sum(label != -100 for row in lexical.held_out["labels"] for label in row) > 0
    assert lexical.pair_stats["used_pairs"] == len(lexical.train) == 10 and lexical.dev is None
    other_masks = prepare_data(job, CorpusArguments(**{**vars(corpus_args), "eval_masking_seed": 78}), train_args,
                               job_tokenizer, wordnet=fake_wordnet)
    assert other_masks.held_out["labels"] != lexical.held_out["labels"]  # the comparison above sees the masks


def test_lmgc_m_refuses_a_model_without_next_sentence_head(tmp_path, tokenizer, corpus, fake_wordnet):
    train = lmgc_m_dataset(candidate_groups(corpus, wordnet=fake_wordnet), tokenizer, max_length=32)
    mlm_only = BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1,
                                          num_attention_heads=2, intermediate_size=64))
    with pytest.raises(ValueError, match="start from a BertForPreTraining|Start from a BertForPreTraining"):
        train_lexical(mlm_only, tokenizer, train, train, lexical_args(tmp_path / "run"))
    with pytest.raises(ValueError, match="nsp_weight"):
        lexical_args(tmp_path / "run", nsp_weight=-1.0)


# --------------------------------------------------------------------------- scripts (real WordNet)


@pytest.fixture(scope="module")
def real_wordnet():
    from lexkd.lexical.wordnet import WordNetNotFoundError, get_wordnet

    try:
        return get_wordnet()
    except WordNetNotFoundError as error:
        pytest.skip(f"WordNet is not installed: {error}")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tokenizer):
    folder = tmp_path_factory.mktemp("ckpt") / "model"
    tiny_pretraining_model(tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def run_script(name, argv):
    return run_named_script(name, argv)


@pytest.mark.slow
def test_disambiguate_cli_ranks_wordnet_senses(real_wordnet, checkpoint, capsys):
    argv = ["--model", str(checkpoint), "--sentence", "He sat on the banks of the river.", "--target", "banks",
            "--lemma", "bank", "--pos", "NOUN", "--json"]
    assert run_script("disambiguate", argv) == 0
    ranked = json.loads(capsys.readouterr().out)
    assert len(ranked) == len(real_wordnet.senses("bank", "NOUN"))
    assert {"sense_key", "synset", "gloss", "score"} <= ranked[0].keys()


@pytest.mark.slow
@pytest.mark.parametrize("change, message", [
    (["--target", "money"], "not a word of the sentence"),
    (["--pos", "NOUNISH"], "unknown part of speech"),
    (["--target", "xyzzy", "--sentence", "the xyzzy sat"], "WordNet has no NOUN sense of 'xyzzy'"),
    (["--target_index", "1"], "exactly one of --target"),
])
def test_disambiguate_cli_bad_input_is_one_clear_line(real_wordnet, checkpoint, capsys, change, message):
    argv = ["--model", str(checkpoint), "--sentence", "the bank sat", "--target", "bank", "--pos", "NOUN"]
    for flag, value in zip(change[::2], change[1::2], strict=True):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    assert run_script("disambiguate", argv) == 2
    assert message in capsys.readouterr().err


def test_pretrain_lexical_needs_gold_keys_for_its_corpus(checkpoint, tmp_path, capsys):
    # A corpus with no key file given or beside it would give no training pair at all.
    (tmp_path / "toy.data.xml").write_text(FIXTURE_XML)
    argv = ["--student", str(checkpoint), "--semcor", str(tmp_path / "toy.data.xml"), "--output_dir", str(tmp_path / "run")]
    assert run_script("pretrain_lexical", argv) == 2
    err = capsys.readouterr().err
    assert "--semcor_gold" in err and "toy.data.xml" in err
    assert not (tmp_path / "run").exists()


def test_gloss_match_loss_counts_only_rows_with_a_gloss_label():
    from lexkd.lexical.lmgc_m import NO_MATCH_LABEL, gloss_match_loss

    logits = torch.tensor([[2.0, -1.0], [0.5, 0.5], [-3.0, 1.0]], requires_grad=True)
    labels = torch.tensor([0, NO_MATCH_LABEL, 1])
    expected = torch.nn.functional.cross_entropy(logits[[0, 2]], labels[[0, 2]])
    torch.testing.assert_close(gloss_match_loss(logits, labels), expected)
    none = gloss_match_loss(logits, torch.full((3,), NO_MATCH_LABEL))
    none.backward()
    assert none.item() == 0.0 and logits.grad is not None


def test_lmgc_m_with_corpus_mixing_trains_on_both_and_logs_both_losses(tmp_path, tokenizer, corpus, fake_wordnet):
    from conftest import make_texts

    from lexkd.data.arguments import CorpusArguments
    from lexkd.lexical.job import LexicalJobArguments, prepare_data, resolve_job
    from lexkd.lexical.lmgc_m import NO_MATCH_LABEL
    from lexkd.tasks.wsd.raganato import write_raganato

    (tmp_path / "corpus.txt").write_text("\n".join(make_texts(80, seed=3)) + "\n")
    corpus_args = CorpusArguments(corpus=str(tmp_path / "corpus.txt"), validation_fraction=0.25, max_seq_length=16,
                                  max_eval_sequences=8)
    train_args = lexical_args(tmp_path / "run", max_steps=6, logging_steps=1)
    write_raganato(corpus, tmp_path / "semcor.data.xml", tmp_path / "semcor.gold.key.txt")
    job = resolve_job(LexicalJobArguments(student="unused", semcor=str(tmp_path / "semcor.data.xml"), corpus_mix=0.5),
                      train_args)
    data = prepare_data(job, corpus_args, train_args, tokenizer, wordnet=fake_wordnet)
    labels = data.train["next_sentence_label"]
    assert len(labels) == 20 and labels.count(NO_MATCH_LABEL) == 10 == data.pair_stats["corpus_sequences"]
    assert data.pair_stats["corpus_share"] == 0.5
    model = tiny_pretraining_model(tokenizer)
    results = train_lexical(model, tokenizer, data.train, data.held_out, train_args)
    assert results["parameters_unchanged"] is True
    logs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in logs if "loss" in r and "eval_loss" not in r]
    assert len(steps) == 6 and all("mlm_loss" in r for r in steps)
    assert sum("nsp_loss" in r for r in steps) >= 4  # a batch of 4 corpus rows only has no gloss-match term
    with pytest.raises(ValueError, match="--corpus_mix must be in"):
        LexicalJobArguments(student="s", semcor="x", corpus_mix=1.0)
    job = resolve_job(LexicalJobArguments(student="unused", semcor=str(tmp_path / "semcor.data.xml"), corpus_mix=0.95),
                      train_args)
    with pytest.raises(ValueError, match="asks for 190 corpus sequences"):
        prepare_data(job, CorpusArguments(corpus=str(tmp_path / "corpus.txt"), max_seq_length=64), train_args,
                     tokenizer, wordnet=fake_wordnet)


def _lmgc_args(output_dir, steps=3):
    return TrainingArguments(output_dir=str(output_dir), max_steps=steps, per_device_train_batch_size=4,
                             learning_rate=1e-3, report_to="none", use_cpu=True, disable_tqdm=True, save_strategy="no",
                             logging_steps=1)


def test_lmgc_task_distillation_caches_teacher_logits_and_logs_the_kd_term(tmp_path, tokenizer, corpus, fake_wordnet,
                                                                            monkeypatch):
    from lexkd.tasks.classification.distillation import (
        TaskDistillationArguments,
        TeacherLabelMismatchError,
    )
    from lexkd.tasks.wsd import distillation as wsd_distillation

    tiny_pretraining_model(tokenizer).save_pretrained(tmp_path / "ckpt")
    tokenizer.save_pretrained(tmp_path / "ckpt")
    teacher = LMGCSystem(load_lmgc_model(tmp_path / "ckpt"), tokenizer, max_length=32, wordnet=fake_wordnet)
    teacher.fit(corpus, args=_lmgc_args(tmp_path / "teacher"))
    teacher_dir = tmp_path / "teacher" / "model"
    groups = candidate_groups(corpus, training=True, wordnet=fake_wordnet)
    cache = tmp_path / "logits"
    logits, records = wsd_distillation.lmgc_teacher_logits([str(teacher_dir)], groups, max_length=32, cache_dir=cache)
    rows = tokenize_pairs(groups, tokenizer, max_length=32)
    assert logits.shape == (len(rows), 1, 2) and not records[0]["reused"]
    model = LMGCSystem.from_pretrained(teacher_dir).model.eval()
    with torch.no_grad():  # the teacher's own logits, one unpadded pair at a time
        expected = [model(**{k: torch.tensor([rows[i][k]]) for k in ("input_ids", "token_type_ids", "attention_mask")}
                          ).logits[0].tolist() for i in range(len(rows))]
    assert torch.allclose(torch.from_numpy(logits[:, 0]), torch.tensor(expected), atol=1e-5)

    def no_teacher_run(name):
        raise AssertionError("the teacher was loaded although its logits are cached")

    monkeypatch.setattr(wsd_distillation, "_load_lmgc_teacher", no_teacher_run)
    again, records = wsd_distillation.lmgc_teacher_logits([str(teacher_dir)], groups, max_length=32, cache_dir=cache)
    assert records[0]["reused"] and (again == logits).all()

    distillation = TaskDistillationArguments(teacher=[str(teacher_dir)], alpha=0.5, temperature=2.0,
                                             teacher_logits_dir=str(cache))
    student = LMGCSystem(load_lmgc_model(tmp_path / "ckpt"), tokenizer, max_length=32, wordnet=fake_wordnet)
    student.fit(corpus, args=_lmgc_args(tmp_path / "student"), distillation=distillation)
    summary = student.training["distillation"]
    assert summary["teacher_logits"][0]["reused"] and summary["mean_teacher_weights"] == {"teacher": 1.0}
    logged = [json.loads(line) for line in (tmp_path / "student" / "metrics.jsonl").read_text().splitlines()]
    assert any("kd_loss" in record for record in logged)

    monkeypatch.undo()
    with pytest.raises(TeacherLabelMismatchError, match="not an LMGC classifier.*eval_wsd.py"):
        wsd_distillation.lmgc_teacher_logits([str(tmp_path / "ckpt")], groups, max_length=32, cache_dir=tmp_path / "x")


def test_lmgc_teachers_need_a_training_corpus(tmp_path, tokenizer, fake_wordnet):
    from lexkd.tasks.classification.distillation import TaskDistillationArguments
    from lexkd.tasks.wsd.systems import make_system

    tiny_pretraining_model(tokenizer).save_pretrained(tmp_path / "ckpt")
    tokenizer.save_pretrained(tmp_path / "ckpt")
    distillation = TaskDistillationArguments(teacher=[str(tmp_path / "ckpt")])
    with pytest.raises(ValueError, match="--train"):
        make_system(str(tmp_path / "ckpt"), distillation=distillation, wordnet=fake_wordnet)
    with pytest.raises(ValueError, match="baseline"):
        make_system("first_sense", distillation=distillation, wordnet=fake_wordnet)
