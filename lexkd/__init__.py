"""lexkd: knowledge distillation for language models from several teachers and from WordNet.

The public API, importable from ``lexkd`` directly (``from lexkd import MultiTeacherDistillationTrainer``).
Names are loaded on first use (PEP 562), so ``import lexkd`` stays cheap and a user of one path does
not import the others. Where each part lives:

- ``lexkd.losses``: every divergence once (KL, reverse KL, JS, TVD, top-k KL, f-DISTILL, the MLM loss);
- ``lexkd.models``: masked-position MLM heads, students, the sentence-pair head, bert2bert;
- ``lexkd.data``: corpora, tokenizers, MLM collators;
- ``lexkd.mlm``: teachers and their combination, the trainer, the teacher cache, evaluation, the main job;
- ``lexkd.seq2seq``: NLG data, pseudo-targets, the seq2seq trainer, BLEU/chrF/ROUGE, the NLG job;
- ``lexkd.lexical``: WordNet, glosses, LMGC-M;
- ``lexkd.tasks``: the downstream adapters (``wsd``, ``glue``, ``classification``, ``plagiarism``);
- ``lexkd.evaluation``: the one Evaluator interface; ``lexkd.utils``: atomic I/O, paths, fingerprints,
  reports, the command line.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    # losses
    "forward_kl": "lexkd.losses", "reverse_kl": "lexkd.losses", "jensen_shannon": "lexkd.losses",
    "total_variation": "lexkd.losses", "sparse_kl_divergence": "lexkd.losses", "token_cross_entropy": "lexkd.losses",
    "multi_teacher_mlm_loss": "lexkd.losses", "f_distill_loss": "lexkd.losses", "DIVERGENCES": "lexkd.losses",
    # models
    "MaskedPositionMLM": "lexkd.models.masked_lm", "masked_lm_logits": "lexkd.models.masked_lm",
    "build_student": "lexkd.models.masked_lm", "load_masked_lm": "lexkd.models.masked_lm",
    "build_bert2bert": "lexkd.models.seq2seq", "load_seq2seq": "lexkd.models.seq2seq",
    "GenerationSettings": "lexkd.models.seq2seq",
    # data
    "load_corpus": "lexkd.data.corpora", "split_documents": "lexkd.data.corpora",
    "MaskedLMCollator": "lexkd.data.collators", "mask_once": "lexkd.data.collators",
    "load_or_train_tokenizer": "lexkd.data.tokenization",
    "VocabularyMap": "lexkd.data.vocabulary_map", "vocabulary_map": "lexkd.data.vocabulary_map",
    # the MLM path
    "Teacher": "lexkd.mlm.teachers", "load_teachers": "lexkd.mlm.teachers", "combine_teachers": "lexkd.mlm.teachers",
    "WEIGHTING_RULES": "lexkd.mlm.teachers", "match_vocabularies": "lexkd.mlm.teachers",
    "adapt_teacher": "lexkd.mlm.adapt", "VocabularyMismatchError": "lexkd.data.tokenization",
    "DistillationArguments": "lexkd.mlm.trainer", "MultiTeacherDistillationTrainer": "lexkd.mlm.trainer",
    "TeacherCache": "lexkd.mlm.cache_reader", "build_teacher_cache": "lexkd.mlm.cache",
    "MaskedLMEvaluator": "lexkd.mlm.evaluation", "train_masked_lm": "lexkd.mlm.training",
    # the seq2seq path
    "Seq2SeqDistillationArguments": "lexkd.seq2seq.trainer", "Seq2SeqDistillationTrainer": "lexkd.seq2seq.trainer",
    "GenerationEvaluator": "lexkd.seq2seq.metrics", "load_nlg_data": "lexkd.seq2seq.data",
    # the lexical path
    "get_wordnet": "lexkd.lexical.wordnet", "WordNet": "lexkd.lexical.wordnet",
    "LexicalPretrainingArguments": "lexkd.lexical.lmgc_m", "LexicalPretrainingTrainer": "lexkd.lexical.lmgc_m",
    # task adapters
    "disambiguate": "lexkd.tasks.wsd.lmgc", "LMGCSystem": "lexkd.tasks.wsd.lmgc", "read_raganato": "lexkd.tasks.wsd.raganato",
    "score_wsd": ("lexkd.tasks.wsd.scoring", "score"),
    "finetune_classifier": "lexkd.tasks.classification.finetune",
    "ClassificationEvaluator": "lexkd.tasks.classification.evaluation", "WSDEvaluator": "lexkd.tasks.wsd.systems",
    # evaluation
    "Evaluator": "lexkd.evaluation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'lexkd' has no attribute {name!r}")
    module, attribute = target if isinstance(target, tuple) else (target, name)
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
