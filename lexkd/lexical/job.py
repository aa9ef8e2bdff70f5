"""Building blocks of the LMGC-M lexical pretraining job (``scripts/pretrain_lexical.py``).

The script is a thin ``main()`` over these: :func:`resolve_job` checks the flags before any work,
:func:`load_models` loads the student, its tokenizer and the teachers, :func:`prepare_data`
builds the gloss/context training pairs, the held-out MLM set and the dev corpus, and
:func:`lexkd.lexical.lmgc_m.train_lexical` trains.

The held-out MLM set is the MLM job's (:func:`held_out_mlm_set`): the same corpus flags
(``--corpus``, ``--validation_fraction``, ``--split_seed``, ``--max_seq_length``,
``--line_by_line``, ``--max_eval_sequences``, ``--eval_masking_seed``) and ``--mlm_probability``
as ``pretrain_multiteacher.py`` give the same documents and the same fixed masks, built by the
one builder :func:`lexkd.mlm.job.prepare_validation_set`, so the losses compare.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import datasets
from transformers import PreTrainedTokenizerBase

from lexkd.data.arguments import CorpusArguments
from lexkd.data.corpora import load_split_corpus
from lexkd.lexical.glosses import candidate_groups, sample_groups
from lexkd.lexical.lmgc_m import LexicalPretrainingArguments, lmgc_m_dataset
from lexkd.mlm.data import prepare_validation_set
from lexkd.utils.runs import resume_checkpoint

__all__ = ["LexicalData", "LexicalJobArguments", "corpus_sequences", "held_out_mlm_set", "load_models", "mix_with_pairs",
           "prepare_data", "resolve_job", "split_corpus"]

logger = logging.getLogger(__name__)


@dataclass
class LexicalJobArguments:
    """What ``scripts/pretrain_lexical.py`` trains on, besides the corpus and training flags."""

    student: str = field(metadata={"help": "The student: a BertForPreTraining checkpoint (lexkd's students are)."})
    semcor: str = field(metadata={"help": "Sense-tagged training corpus .data.xml (SemCor in the Raganato format)."})
    semcor_gold: str | None = field(default=None, metadata={
        "help": "Its .gold.key.txt; default: X.gold.key.txt beside X.data.xml (the framework's naming)."})
    teachers: list[str] = field(
        default_factory=list,
        metadata={"help": "Teacher checkpoints for multi-teacher MLM targets on the pairs (needs --alpha > 0)."},
    )
    max_instances: int | None = field(
        default=None, metadata={"help": "Use at most this many target words (random, --seed); each gives one pair per candidate sense."}
    )
    max_pair_length: int = field(default=128, metadata={"help": "Tokens per context/gloss pair (the context is cut first)."})
    corpus_mix: float = field(default=0.0, metadata={
        "help": "Share of the training rows that are plain MLM sequences of the general corpus (the --corpus "
                "training documents, --max_seq_length tokens, drawn with --seed), mixed with the gloss pairs so "
                "that the language model is kept; their rows carry no gloss-match label. In [0, 1); 0: pairs only."})
    dev: str | None = field(default=None, metadata={"help": "WSD dev set .data.xml, scored with the next-sentence head before and after."})
    dev_gold: str | None = field(default=None, metadata={
        "help": "Its .gold.key.txt; default: X.gold.key.txt beside X.data.xml (needed with --dev)."})
    resume: bool = field(default=False, metadata={"help": "Continue from the last checkpoint in OUTPUT_DIR."})

    def __post_init__(self):
        if not 0.0 <= self.corpus_mix < 1.0:
            raise ValueError(f"--corpus_mix must be in [0, 1) (the share of corpus rows), got {self.corpus_mix}.")


@dataclass
class LexicalData:
    """What LMGC-M trains and is measured on."""

    train: datasets.Dataset
    """Tokenised gloss/context pairs with ``next_sentence_label`` (:func:`lexkd.lexical.lmgc_m.lmgc_m_dataset`)."""
    held_out: datasets.Dataset
    """The MLM job's fixed-masked held-out set (:func:`held_out_mlm_set`)."""
    dev: object | None
    """The dev :class:`lexkd.tasks.wsd.corpus.WSDCorpus` with gold keys, or None."""
    pair_stats: dict
    """Counts of the pairs built and skipped (:class:`lexkd.lexical.glosses.PairStats`), plus
    ``used_instances`` and ``used_pairs`` after ``--max_instances``."""


def resolve_job(job: LexicalJobArguments, train_args: LexicalPretrainingArguments) -> LexicalJobArguments:
    """Check the flags before any work; returns ``job`` with the gold key files found beside the data.

    Raises:
        ValueError: ``--teachers`` with ``--alpha 0``; no gold keys for ``--semcor`` or ``--dev``
            (none given and no ``X.gold.key.txt`` beside ``X.data.xml``).
        FileNotFoundError: ``--resume`` with no checkpoint in ``OUTPUT_DIR``; a teacher path
            that is not a saved model.
    """
    from lexkd.models.masked_lm import check_local_model
    from lexkd.tasks.wsd.raganato import default_key_file

    if job.teachers and train_args.alpha == 0:
        raise ValueError("--teachers given but --alpha is 0, so their targets would be unused: set --alpha (e.g. 0.5).")
    semcor_gold = job.semcor_gold or default_key_file(job.semcor)
    if semcor_gold is None:
        raise ValueError(f"No gold keys for --semcor {job.semcor}: give --semcor_gold (no .gold.key.txt beside it).")
    dev_gold = job.dev_gold
    if job.dev:
        dev_gold = dev_gold or default_key_file(job.dev)
        if dev_gold is None:
            raise ValueError(f"No gold keys for --dev {job.dev}: give --dev_gold (no .gold.key.txt beside it).")
    if job.resume:
        resume_checkpoint(train_args.output_dir)  # fail before any work when there is nothing to resume
    for name in job.teachers:
        check_local_model(name, role=f"teacher {name!r}")
    return dataclasses.replace(job, semcor_gold=semcor_gold, dev_gold=dev_gold)


def load_models(job: LexicalJobArguments, corpus_args: CorpusArguments, train_args: LexicalPretrainingArguments):
    """The student, its tokenizer (``--tokenizer`` or the student's) and the loaded teachers.

    Returns:
        ``(model, tokenizer, teachers)``.

    Raises:
        ValueError: a student without a next-sentence head or of a type without a masked-position
            MLM head (before any data is read); a teacher whose vocabulary differs from the tokenizer's.
        FileNotFoundError, OSError: a checkpoint that cannot be loaded.
    """
    from transformers import AutoTokenizer

    from lexkd.data.tokenization import check_vocabularies
    from lexkd.mlm.teachers import load_teachers
    from lexkd.models.masked_lm import load_masked_lm
    from lexkd.models.pair_head import MaskedPositionPreTraining

    model = load_masked_lm(job.student, role="student")
    MaskedPositionPreTraining(model)  # a clear error before reading any data: no next-sentence or MLM head
    tokenizer = AutoTokenizer.from_pretrained(corpus_args.tokenizer or job.student)
    teachers = load_teachers(job.teachers, device=train_args.device) if job.teachers else []
    check_vocabularies(tokenizer, {t.name: t.tokenizer for t in teachers}, {t.name: t.model for t in teachers})
    return model, tokenizer, teachers


def split_corpus(corpus_args: CorpusArguments):
    """``(training documents, held-out documents)`` of the corpus flags, split as the MLM job splits them."""
    return load_split_corpus(corpus_args.corpus, validation_fraction=corpus_args.validation_fraction,
                             seed=corpus_args.split_seed, **corpus_args.corpus_kwargs())


def held_out_mlm_set(corpus_args: CorpusArguments, tokenizer: PreTrainedTokenizerBase, *,
                     mlm_probability: float = 0.15, documents=None) -> datasets.Dataset:
    """The MLM job's held-out set for these corpus flags: the validation documents of
    :func:`lexkd.mlm.job.load_split_corpus`, built by :func:`lexkd.mlm.job.prepare_validation_set`
    exactly as :func:`lexkd.mlm.job.prepare_job` builds them (same documents, same fixed masks).
    ``documents``: the held-out documents when the caller has split the corpus already (:func:`split_corpus`).

    Raises:
        FileNotFoundError, EmptyCorpusError: as :func:`lexkd.data.corpora.load_corpus`.
    """
    if documents is None:
        _, documents = split_corpus(corpus_args)
    return prepare_validation_set(documents, tokenizer, max_seq_length=corpus_args.max_seq_length,
                                  line_by_line=corpus_args.line_by_line, mlm_probability=mlm_probability,
                                  eval_masking_seed=corpus_args.eval_masking_seed,
                                  max_eval_sequences=corpus_args.max_eval_sequences)


def corpus_sequences(corpus_args: CorpusArguments, tokenizer: PreTrainedTokenizerBase, count: int, *,
                     seed: int = 0, documents=None) -> datasets.Dataset:
    """``count`` training sequences of the general corpus (the MLM job's training documents and
    sequences for these corpus flags), drawn at random with ``seed``. ``documents``: the training
    documents when the caller has split the corpus already (:func:`split_corpus`).

    Raises:
        ValueError: the corpus has fewer training sequences than ``count`` (naming both and the fix).
        FileNotFoundError, EmptyCorpusError: as :func:`lexkd.data.corpora.load_corpus`.
    """
    from lexkd.data.corpora import flatten
    from lexkd.data.tokenization import tokenize_texts

    if documents is None:
        documents, _ = split_corpus(corpus_args)
    sequences = tokenize_texts(flatten(documents), tokenizer, max_seq_length=corpus_args.max_seq_length,
                               line_by_line=corpus_args.line_by_line)
    if count > len(sequences):
        raise ValueError(f"--corpus_mix asks for {count} corpus sequences but {corpus_args.corpus_label} has "
                         f"{len(sequences)} training sequences of {corpus_args.max_seq_length} tokens: lower "
                         "--corpus_mix, use fewer pairs (--max_instances) or a larger corpus.")
    return sequences.shuffle(seed=seed).select(range(count))


def mix_with_pairs(pairs: datasets.Dataset, corpus: datasets.Dataset) -> datasets.Dataset:
    """The gloss pairs followed by the corpus sequences, in the pairs' columns: corpus rows get segment
    ids 0 and ``next_sentence_label`` -100 (no gloss-match term); the trainer's sampler mixes them."""
    from lexkd.lexical.lmgc_m import NO_MATCH_LABEL

    if "token_type_ids" not in corpus.column_names:
        corpus = corpus.add_column("token_type_ids", [[0] * len(ids) for ids in corpus["input_ids"]])
    corpus = corpus.add_column("next_sentence_label", [NO_MATCH_LABEL] * len(corpus))
    corpus = corpus.select_columns(pairs.column_names).cast(pairs.features)
    return datasets.concatenate_datasets([pairs, corpus])


def prepare_data(job: LexicalJobArguments, corpus_args: CorpusArguments, train_args: LexicalPretrainingArguments,
                 tokenizer: PreTrainedTokenizerBase, *, wordnet=None) -> LexicalData:
    """Training pairs from ``--semcor`` (at most ``--max_instances`` targets, drawn with ``--seed``),
    the held-out MLM set (:func:`held_out_mlm_set`) and the ``--dev`` corpus.

    Args:
        job: after :func:`resolve_job` (gold key files set).
        wordnet: the sense inventory (default :func:`lexkd.lexical.wordnet.get_wordnet`).

    Raises:
        FileNotFoundError, WSDFormatError: a missing or malformed WSD file; WordNetNotFoundError.
    """
    from lexkd.tasks.wsd.raganato import read_raganato

    groups = candidate_groups(read_raganato(job.semcor, job.semcor_gold), training=True, wordnet=wordnet)
    pair_stats = groups.stats.as_dict()
    groups = sample_groups(groups, job.max_instances, seed=train_args.seed)
    pair_stats.update(used_instances=len(groups), used_pairs=sum(len(g) for g in groups))
    logger.info("Gloss/context pairs: %s", pair_stats)
    train = lmgc_m_dataset(groups, tokenizer, max_length=job.max_pair_length)
    train_documents, held_out_documents = split_corpus(corpus_args)  # read once, for both uses
    if job.corpus_mix > 0:
        corpus = corpus_sequences(corpus_args, tokenizer, round(len(train) * job.corpus_mix / (1 - job.corpus_mix)),
                                  seed=train_args.seed, documents=train_documents)
        train = mix_with_pairs(train, corpus)
        pair_stats.update(corpus_sequences=len(corpus), corpus_share=round(len(corpus) / len(train), 4))
        logger.info("Mixed %d corpus sequences with the %d pairs (%.1f%% of the rows)", len(corpus),
                    len(train) - len(corpus), 100 * len(corpus) / len(train))
    held_out = held_out_mlm_set(corpus_args, tokenizer, mlm_probability=train_args.mlm_probability,
                                documents=held_out_documents)
    dev = read_raganato(job.dev, job.dev_gold) if job.dev else None
    return LexicalData(train=train, held_out=held_out, dev=dev, pair_stats=pair_stats)

