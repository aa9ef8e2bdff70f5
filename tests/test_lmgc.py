"""LMGC scoring and prediction, LMGC-M lexical pretraining: tiny BertForPreTraining models built in the test."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import make_wsd_corpus, run_named_script
from transformers import BertConfig, BertForMaskedLM, BertForPreTraining, TrainingArguments

from lexkd.data.tokenization import train_wordpiece_tokenizer
from lexkd.lexical.glosses import NoSensesError, candidate_groups, tokenize_pairs
from lexkd.lexical.lmgc_m import (
    LexicalPretrainingArguments,
    MaskedPositionPreTraining,
    held_out_mlm_set,
    lmgc_m_dataset,
    nsp_head,
    train_lexical,
)
from lexkd.mlm.teachers import Teacher
from lexkd.models.masked_lm import count_parameters
from lexkd.tasks.wsd.lmgc import LMGCSystem, NSPScorer, disambiguate, get_scorer, load_lmgc_model

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
    scores = system.score_groups(candidate_groups(corpus, training=False, wordnet=fake_wordnet))
    assert [len(s) for s in scores] == [3, 3, 1, 3]
    assert Spy.sizes == [3, 4, 3]  # groups packed whole: [3], [3 + 1], [3]
    assert all(0.0 <= p <= 1.0 for group in scores for p in group)


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
    held_out = held_out_mlm_set([[t] for t in TEXTS], tokenizer, max_seq_length=16)
    teachers = [Teacher(f"t{i}", tiny_pretraining_model(tokenizer, seed=9 + i, layers=1).eval(), tokenizer)
                for i in range(2)] if with_teachers else []
    args = lexical_args(tmp_path / "run", alpha=0.5 if teachers else 0.0)
    results = train_lexical(model, tokenizer, train, held_out, args, teachers=teachers, dev=corpus,
                            wordnet=fake_wordnet)

    assert results["parameters_before"] == results["parameters_after"] == results["parameters_trained"] == before
    assert results["parameters_unchanged"] is True
    assert {"loss", "accuracy", "perplexity"} <= results["mlm_before"].keys() <= results["mlm_after"].keys()
    assert results["mlm_before"]["loss"] != results["mlm_after"]["loss"]
    run = tmp_path / "run"
    for name in ("run_config.json", "metrics.jsonl", "lexical_results.json", "report.md", "model/config.json"):
        assert (run / name).is_file(), name
    logs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_logs = [r for r in logs if "nsp_loss" in r]
    assert train_logs and all("nsp_accuracy" in r and "mlm_loss" in r for r in train_logs)
    assert any("eval_loss" in r for r in logs)
    assert all(("kd_loss" in r) == with_teachers for r in train_logs)
    for when in ("before", "after"):  # WSD through the next-sentence head, every instance answered
        assert results[f"wsd_dev_{when}"]["answered"] == len(corpus.instances)
        assert 0.0 <= results[f"wsd_dev_{when}"]["F1"] <= 100.0
    report = (run / "report.md").read_text()
    assert "Parameters unchanged: True" in report and "dev WSD F1 (NSP head)" in report
    saved = BertForPreTraining.from_pretrained(run / "model")
    assert count_parameters(saved) == before and saved.config.lexkd["lmgc_m"]["match_label"] == 0


def test_lmgc_m_resumes_from_its_checkpoint(tmp_path, tokenizer, corpus, fake_wordnet):
    train = lmgc_m_dataset(candidate_groups(corpus, wordnet=fake_wordnet), tokenizer, max_length=32)
    held_out = held_out_mlm_set([[t] for t in TEXTS], tokenizer, max_seq_length=16)
    train_lexical(tiny_pretraining_model(tokenizer), tokenizer, train, held_out, lexical_args(tmp_path / "run", max_steps=2))
    results = train_lexical(tiny_pretraining_model(tokenizer), tokenizer, train, held_out,
                            lexical_args(tmp_path / "run", max_steps=4), resume=True)
    assert results["steps"] == 4
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        (tmp_path / "empty").mkdir()
        train_lexical(tiny_pretraining_model(tokenizer), tokenizer, train, held_out, lexical_args(tmp_path / "empty"),
                      resume=True)


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


FIXTURE_XML = """<?xml version="1.0" encoding="UTF-8" ?>
<corpus lang="en" source="toy">
<text id="d000">
<sentence id="d000.s000">
<wf lemma="he" pos="PRON">He</wf>
<wf lemma="sit" pos="VERB">sat</wf>
<wf lemma="on" pos="ADP">on</wf>
<wf lemma="the" pos="DET">the</wf>
<instance id="d000.s000.t000" lemma="bank" pos="NOUN">bank</instance>
<wf lemma="of" pos="ADP">of</wf>
<wf lemma="the" pos="DET">the</wf>
<instance id="d000.s000.t001" lemma="river" pos="NOUN">river</instance>
</sentence>
<sentence id="d000.s001">
<wf lemma="the" pos="DET">The</wf>
<instance id="d000.s001.t000" lemma="dog" pos="NOUN">dog</instance>
<instance id="d000.s001.t001" lemma="run" pos="VERB">ran</instance>
<wf lemma="to" pos="ADP">to</wf>
<wf lemma="the" pos="DET">the</wf>
<instance id="d000.s001.t002" lemma="xyzzy" pos="NOUN">xyzzy</instance>
</sentence>
</text>
</corpus>
"""
FIXTURE_GOLD = """d000.s000.t000 bank%1:17:01::
d000.s000.t001 river%1:17:00::
d000.s001.t000 dog%1:05:00::
d000.s001.t001 run%2:38:04::
d000.s001.t002 bank%1:14:00::
"""


@pytest.fixture
def wsd_files(tmp_path):
    (tmp_path / "toy.data.xml").write_text(FIXTURE_XML)
    (tmp_path / "toy.gold.key.txt").write_text(FIXTURE_GOLD)
    return tmp_path / "toy.data.xml", tmp_path / "toy.gold.key.txt"


@pytest.mark.slow
@pytest.mark.parametrize("model, extra", [
    ("first_sense", []),
    ("CKPT", ["--scorer", "nsp"]),
    ("CKPT", ["--train", "DATA", "--train_gold", "GOLD", "--max_steps", "2", "--output_dir", "OUT"]),
])
def test_eval_wsd_writes_key_file_and_scores(real_wordnet, checkpoint, wsd_files, tmp_path, capsys, model, extra):
    data, gold = wsd_files
    names = {"CKPT": str(checkpoint), "DATA": str(data), "GOLD": str(gold), "OUT": str(tmp_path / "lmgc")}
    argv = ["--model", names.get(model, model), "--data", str(data), "--gold", str(gold),
            "--output", str(tmp_path / "out.key"), "--results", str(tmp_path / "res.json")]
    assert run_script("eval_wsd", argv + [names.get(x, x) for x in extra]) == 0
    result = json.loads((tmp_path / "res.json").read_text())
    assert json.dumps(result, indent=2) in capsys.readouterr().out  # printed last, after the Trainer's logs
    keys = dict(line.split(" ", 1) for line in (tmp_path / "out.key").read_text().splitlines())
    assert set(keys) == {"d000.s000.t000", "d000.s000.t001", "d000.s001.t000", "d000.s001.t001"}  # xyzzy: no sense
    assert result["skipped"] == {"no_senses": 1} or result["skipped"] == {"no_wordnet_senses": 1}
    scores = result["scores"]
    assert scores["instances"] == 5 and scores["answered"] == 4 and 0.0 <= scores["F1"] <= 100.0
    assert {"NOUN", "VERB"} <= scores["per_pos"].keys()
    if model == "first_sense":
        assert scores["correct"] == 3  # first senses of bank, river, dog are gold; run's is not
    if "--train" in extra:
        assert result["system"] == "classifier" and (tmp_path / "lmgc" / "model" / "config.json").is_file()


@pytest.mark.slow
def test_eval_wsd_refuses_classifier_scoring_of_a_pretraining_checkpoint(real_wordnet, checkpoint, wsd_files, tmp_path,
                                                                       capsys):
    data, gold = wsd_files
    argv = ["--model", str(checkpoint), "--scorer", "classifier", "--data", str(data), "--output", str(tmp_path / "k")]
    assert run_script("eval_wsd", argv) == 2
    assert "not an LMGC classifier" in capsys.readouterr().err


def test_the_gold_key_is_found_beside_the_data(tmp_path):
    from lexkd.tasks.wsd.raganato import default_key_file

    data = tmp_path / "semcor.data.xml"
    data.write_text("<corpus/>")
    assert default_key_file(data) is None  # no key file there yet
    (tmp_path / "semcor.gold.key.txt").write_text("")
    assert default_key_file(str(data)) == str(tmp_path / "semcor.gold.key.txt")
    assert default_key_file(tmp_path / "other.xml") is None


def test_pretrain_lexical_needs_gold_keys_for_its_corpus(checkpoint, tmp_path, capsys):
    # A corpus with no key file given or beside it would give no training pair at all.
    (tmp_path / "toy.data.xml").write_text(FIXTURE_XML)
    argv = ["--student", str(checkpoint), "--semcor", str(tmp_path / "toy.data.xml"), "--output_dir", str(tmp_path / "run")]
    assert run_script("pretrain_lexical", argv) == 2
    err = capsys.readouterr().err
    assert "--semcor_gold" in err and "toy.data.xml" in err
    assert not (tmp_path / "run").exists()
