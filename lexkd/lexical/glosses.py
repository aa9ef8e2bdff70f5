"""Gloss/context pairs for WSD as sentence-pair classification (GlossBERT, Huang et al. 2019).

For each target word, one pair per WordNet candidate sense of its lemma and part of speech,
as used by LMGC and LMGC-M (Wahle et al. 2021)::

    context: the sentence with the target between quotation marks   He sat on the " bank " .
    gloss:   lemma ":" gloss of the candidate sense                  bank : sloping land (...)
    label:   1 when the candidate is a gold sense, else 0

The quotation marks are GlossBERT's *weak supervision* signal (its "Sent-CLS-WS" setting, the
best one): they tell the model which word of the context the gloss is about without adding a
token to the vocabulary, so any checkpoint (student, teacher or hub model) reads them as
ordinary punctuation. The ``lemma :`` prefix of the gloss is the other half of that signal.
Multiword lemmas are written with spaces (``living room : ...``).

Pairs of one target are kept together (:func:`candidate_groups` returns one list per target,
candidates in WordNet sense order), so one forward pass scores all candidates of a target.

Skips are counted, never silent (:class:`PairStats`): a lemma with no WordNet sense for its part
of speech, an unknown part of speech and, when building training data, an instance with no gold
key or whose gold keys are all outside the candidates (a gold key of another lemma spelling).

:func:`tokenize_pairs` turns groups into a ``datasets.Dataset`` with ``token_type_ids``. When a
pair exceeds ``max_length``, the *context* is cut first, to a window of whole words centred on
the marked target (so the target is never cut away, as cutting the tail could do), keeping at
least half of the token budget; only a gloss longer than the rest is then cut at its end.

WordNet access goes through :mod:`lexkd.lexical.wordnet`; everything here is plain Python data
except the tokenised dataset.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from lexkd.lexical.wordnet import Sense, get_wordnet, normalize_pos

if TYPE_CHECKING:
    import datasets
    from transformers import PreTrainedTokenizerBase

    from lexkd.lexical.wordnet import WordNet

__all__ = [
    "CandidateGroups",
    "GlossPair",
    "NoSensesError",
    "PairStats",
    "candidate_groups",
    "format_gloss",
    "mark_target",
    "sample_groups",
    "target_pairs",
    "tokenize_pairs",
    "tokenize_sentence",
]

QUOTE = '"'


class NoSensesError(ValueError):
    """WordNet has no sense of a lemma for the given part of speech."""


@dataclass(frozen=True)
class GlossPair:
    """One context/gloss pair of a target and one candidate sense.

    Attributes:
        instance_id: the target's id (``d000.s000.t000`` in the Raganato format).
        sense_key: the candidate's WordNet 3.0 sense key.
        context: the sentence with the target between quotation marks.
        gloss: ``lemma : gloss`` of the candidate.
        label: 1 when the candidate is a gold sense, else 0.
        target_span: character offsets ``(start, end)`` of the marked target, quotation marks
            included, in ``context``.
    """

    instance_id: str
    sense_key: str
    context: str
    gloss: str
    label: int
    target_span: tuple[int, int] = (0, 0)


@dataclass
class PairStats:
    """Counts of what :func:`candidate_groups` built and skipped.

    Attributes:
        instances: instances seen.
        groups: targets that got candidate pairs.
        pairs: pairs built; ``positives`` of them labelled 1.
        no_senses: skipped, WordNet has no sense of the lemma for its POS.
        unknown_pos: skipped, the POS is none of NOUN VERB ADJ ADV (or WordNet letters).
        no_gold: skipped (training only), the instance has no gold key.
        gold_not_candidate: skipped (training only), no gold key is among the candidates.
        skipped_examples: up to 10 ``"lemma/POS: reason"`` strings, for the report.
    """

    instances: int = 0
    groups: int = 0
    pairs: int = 0
    positives: int = 0
    no_senses: int = 0
    unknown_pos: int = 0
    no_gold: int = 0
    gold_not_candidate: int = 0
    skipped_examples: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return self.no_senses + self.unknown_pos + self.no_gold + self.gold_not_candidate

    def as_dict(self) -> dict:
        return {**asdict(self), "skipped": self.skipped}

    def _skip(self, reason: str, lemma: str, pos: str) -> None:
        setattr(self, reason, getattr(self, reason) + 1)
        if len(self.skipped_examples) < 10:
            self.skipped_examples.append(f"{lemma}/{pos}: {reason}")


class CandidateGroups(list):
    """A ``list[list[GlossPair]]`` (one inner list per target) with its :class:`PairStats` in ``.stats``."""

    def __init__(self, groups: Iterable[list[GlossPair]] = (), stats: PairStats | None = None):
        super().__init__(groups)
        self.stats = stats if stats is not None else PairStats()


def format_gloss(lemma: str, gloss: str) -> str:
    """The gloss side of a pair: ``"lemma : gloss"``, multiword lemmas with spaces."""
    return f"{' '.join(lemma.replace('_', ' ').split())} : {gloss}"


def mark_target(tokens: Sequence[str], index: int) -> tuple[str, tuple[int, int]]:
    """Join ``tokens`` with spaces, the one at ``index`` between quotation marks.

    Returns:
        ``(context, (start, end))``: the context and the character span of ``" word "``.

    Raises:
        IndexError: ``index`` outside ``tokens``.
    """
    if not 0 <= index < len(tokens):
        raise IndexError(f"target index {index} is outside the sentence's {len(tokens)} tokens")
    before = " ".join(tokens[:index])
    marked = f"{QUOTE} {tokens[index]} {QUOTE}"
    start = len(before) + (1 if before else 0)
    after = " ".join(tokens[index + 1 :])
    context = " ".join(part for part in (before, marked, after) if part)
    return context, (start, start + len(marked))


def target_pairs(
    tokens: Sequence[str],
    index: int,
    senses: Sequence[Sense],
    *,
    lemma: str,
    instance_id: str = "",
    gold_keys: Iterable[str] = (),
) -> list[GlossPair]:
    """The pairs of one target: one per candidate sense, in the order of ``senses``.

    Args:
        tokens: the sentence's tokens; ``index`` is the target's position.
        senses: the candidates (``WordNet.senses(lemma, pos)``).
        lemma: the lemma written before each gloss.
        gold_keys: gold sense keys (compared case-insensitively); pairs of these get label 1.
    """
    context, span = mark_target(tokens, index)
    gold = {key.lower() for key in gold_keys}
    return [
        GlossPair(instance_id, sense.sense_key, context, format_gloss(lemma, sense.gloss),
                  int(sense.sense_key.lower() in gold), span)
        for sense in senses
    ]


def candidate_groups(corpus, *, training: bool = True, wordnet: WordNet | None = None) -> CandidateGroups:
    """Gloss/context pairs of every instance of a WSD corpus, grouped by instance.

    Args:
        corpus: a :class:`lexkd.tasks.wsd.raganato.WSDCorpus` (``instances`` and ``sentence_of``).
        training: also skip instances that cannot teach anything (no gold key, or no gold key
            among the candidates). Leave False for prediction: every instance with candidates
            is kept, whatever its gold keys, so scores are not biased by the skip.
        wordnet: default :func:`lexkd.lexical.wordnet.get_wordnet`.

    Returns:
        :class:`CandidateGroups`: one list of pairs per kept instance (corpus order), with the
        counts of what was built and skipped in ``.stats``.

    Raises:
        WordNetNotFoundError: WordNet is not installed.
    """
    wordnet = wordnet if wordnet is not None else get_wordnet()
    stats = PairStats()
    groups = CandidateGroups(stats=stats)
    cache: dict[tuple[str, str], list[Sense]] = {}
    for instance in corpus.instances:
        stats.instances += 1
        try:
            key = (instance.lemma, normalize_pos(instance.pos))
        except ValueError:
            stats._skip("unknown_pos", instance.lemma, instance.pos)
            continue
        if key not in cache:
            cache[key] = wordnet.senses(*key)
        senses = cache[key]
        if not senses:
            stats._skip("no_senses", instance.lemma, instance.pos)
            continue
        if training and not instance.gold_keys:
            stats._skip("no_gold", instance.lemma, instance.pos)
            continue
        tokens = [token.text for token in corpus.sentence_of(instance).tokens]
        pairs = target_pairs(tokens, instance.index, senses, lemma=instance.lemma,
                             instance_id=instance.id, gold_keys=instance.gold_keys)
        positives = sum(pair.label for pair in pairs)
        if training and positives == 0:
            stats._skip("gold_not_candidate", instance.lemma, instance.pos)
            continue
        groups.append(pairs)
        stats.groups += 1
        stats.pairs += len(pairs)
        stats.positives += positives
    return groups


def sample_groups(groups: Sequence[list[GlossPair]], max_instances: int | None, *, seed: int = 42) -> list:
    """At most ``max_instances`` groups (target words) drawn at random with ``seed``, in their original order.

    All of ``groups`` (as a list) when ``max_instances`` is None or not smaller than their number.
    """
    if max_instances is None or len(groups) <= max_instances:
        return list(groups)
    import random

    keep = sorted(random.Random(seed).sample(range(len(groups)), max_instances))
    return [groups[i] for i in keep]


_WORD = re.compile(r"\w+(?:-\w+)*|['’]\w+|[^\w\s]")


def tokenize_sentence(sentence: str) -> list[str]:
    """Split user text into words, clitics and punctuation.

    ``"The bank's state-of-the-art vault."`` -> ``["The", "bank", "'s", "state-of-the-art",
    "vault", "."]``.
    """
    return _WORD.findall(sentence)


# --------------------------------------------------------------------------- tokenisation


def _context_window(encoding, index: int, span: tuple[int, int], budget: int) -> tuple[int, int] | None:
    """Character range of at most ``budget`` tokens of whole words around ``span``; None if all fits.

    Args:
        encoding: the batched fast-tokenizer encoding of the contexts (offsets, word ids).
        index: which context of the batch.
    """
    offsets = encoding["offset_mapping"][index]
    if len(offsets) <= budget:
        return None
    inside = [i for i, (start, end) in enumerate(offsets) if start < span[1] and end > span[0]]
    first, last = (inside[0], inside[-1] + 1) if inside else (0, 1)
    # Centre the window on the target, clamped inside the sentence (a target wider than the
    # budget keeps its first tokens).
    start = min(max(first - (budget - (last - first)) // 2, 0), len(offsets) - budget, first)
    end = start + budget
    words = encoding.word_ids(index)
    # Whole words only: drop a word cut at either edge (unless it is the target itself).
    while 0 < start < first and words[start] is not None and words[start] == words[start - 1]:
        start += 1
    while last < end < len(words) and words[end - 1] is not None and words[end - 1] == words[end]:
        end -= 1
    return offsets[start][0], offsets[end - 1][1]


def tokenize_pairs(
    groups: Sequence[Sequence[GlossPair]],
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_length: int = 128,
) -> datasets.Dataset:
    """Tokenise pairs as ``[CLS] context [SEP] gloss [SEP]`` with ``token_type_ids``.

    Contexts longer than their share of ``max_length`` are cut to a whole-word window centred
    on the marked target (module docstring), keeping at least half of the budget for the
    context; a gloss is cut at its end only when context + gloss still do not fit.

    Args:
        groups: from :func:`candidate_groups` (or any lists of :class:`GlossPair`).
        tokenizer: a fast tokenizer (offsets are needed to find the target).
        max_length: tokens per pair, special tokens included.

    Returns:
        One row per pair, in group order: ``input_ids``, ``token_type_ids``, ``attention_mask``,
        ``special_tokens_mask``, ``label`` (1 = gold sense), ``group`` (index of the target's
        group), ``instance_id``, ``sense_key``.

    Raises:
        ValueError: no pair, ``max_length`` too small to hold the special tokens and 8 more, or a
            slow tokenizer.
    """
    import datasets

    special = tokenizer.num_special_tokens_to_add(pair=True)
    budget = max_length - special
    if budget < 8:
        raise ValueError(f"max_length={max_length} leaves {budget} tokens for context and gloss; use at least {special + 8}.")
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("tokenize_pairs needs a fast tokenizer (it uses offset mappings to find the target).")
    glosses = sorted({pair.gloss for group in groups for pair in group})
    if not glosses:
        raise ValueError("No gloss/context pair to tokenise: the groups are empty.")
    gloss_length = dict(zip(glosses, map(len, tokenizer(glosses, add_special_tokens=False)["input_ids"]), strict=True))
    contexts = tokenizer([group[0].context if group else "" for group in groups], add_special_tokens=False,
                         return_offsets_mapping=True)
    rows: dict[str, list] = {k: [] for k in ("context", "gloss", "label", "group", "instance_id", "sense_key")}
    for number, group in enumerate(groups):
        if not group:
            continue
        context, span = group[0].context, group[0].target_span
        context_budget = max(budget - max(gloss_length[p.gloss] for p in group), budget // 2)
        window = _context_window(contexts, number, span, context_budget)
        if window is not None:
            context = context[window[0] : window[1]]
        for pair in group:
            rows["context"].append(context)
            rows["gloss"].append(pair.gloss)
            rows["label"].append(pair.label)
            rows["group"].append(number)
            rows["instance_id"].append(pair.instance_id)
            rows["sense_key"].append(pair.sense_key)

    def encode(batch):
        # The context already fits its share: "only_second" cuts an over-long gloss only.
        return tokenizer(batch["context"], batch["gloss"], truncation="only_second", max_length=max_length,
                         return_token_type_ids=True, return_special_tokens_mask=True)

    raw = datasets.Dataset.from_dict(rows, features=datasets.Features({
        "context": datasets.Value("string"), "gloss": datasets.Value("string"), "label": datasets.Value("int64"),
        "group": datasets.Value("int64"), "instance_id": datasets.Value("string"), "sense_key": datasets.Value("string"),
    }))
    return raw.map(encode, batched=True, remove_columns=["context", "gloss"], desc="Tokenising gloss/context pairs")
