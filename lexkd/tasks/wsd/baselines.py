"""WSD baselines behind one interface: first sense, most frequent sense, Lesk, word experts.

Every system is a :class:`WSDSystem`: ``fit(train)`` then ``predict(corpus)`` -> instance id
-> WordNet 3.0 sense key (an instance left out is unanswered). :data:`BASELINES` maps names
to classes. Reference scores on SemEval-2007 (F1, Raganato et al. 2017, Table 4): WordNet
first sense 55.2, IMS (Zhong and Ng 2010) trained on SemCor 61.3.

Nothing crashes on odd input; such instances are counted in the system's ``skipped``
Counter (reset by ``fit``, accumulated over ``predict`` calls) and left unanswered:

- ``unknown_pos``: instance POS other than NOUN VERB ADJ ADV;
- ``no_wordnet_senses``: WordNet has no sense for the lemma with that POS;
- ``unknown_gold_key`` (training only): a gold key that is not a WordNet 3.0 sense of the
  instance's lemma and POS; the key is ignored (the instance too if it has no other key).

Back-offs are counted in ``stats`` (e.g. ``backoff_first_sense``), also reset by ``fit``.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Iterable

from lexkd.tasks.wsd.corpus import INSTANCE_POS, WSDCorpus, WSDInstance, WSDToken

__all__ = ["BASELINES", "FirstSense", "Lesk", "MostFrequentSense", "WSDSystem", "WordExpert",
           "ims_features"]


class WSDSystem:
    """Base class: WordNet access, skip accounting and the ``predict`` loop.

    Subclasses implement ``_predict_one(instance, corpus) -> key | None`` and, if they
    learn, ``fit``. Args: ``wordnet``: a ``lexkd.lexical.wordnet.WordNet`` (default
    ``get_wordnet()``, loaded on first use; raises ``WordNetNotFoundError`` if absent).
    """

    name = "base"

    def __init__(self, wordnet=None) -> None:
        self._wordnet = wordnet
        self._keys_cache: dict[tuple[str, str], tuple[str, ...]] = {}
        self.skipped: Counter = Counter()
        self.stats: Counter = Counter()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    @property
    def wordnet(self):
        """The WordNet used (loaded on first access)."""
        if self._wordnet is None:
            from lexkd.lexical.wordnet import get_wordnet

            self._wordnet = get_wordnet()
        return self._wordnet

    def fit(self, train: WSDCorpus | None = None) -> WSDSystem:
        """Learn from ``train`` (ignored by unsupervised systems); resets the counters."""
        self.skipped, self.stats = Counter(), Counter()
        return self

    def predict(self, corpus: WSDCorpus) -> dict[str, str]:
        """Instance id -> sense key for the instances of ``corpus`` this system answers."""
        answers = {}
        for instance in corpus.instances:
            key = self._predict_one(instance, corpus)
            if key is not None:
                answers[instance.id] = key
        return answers

    def _predict_one(self, instance: WSDInstance, corpus: WSDCorpus) -> str | None:
        raise NotImplementedError(f"{type(self).__name__} must implement _predict_one")

    # ---------------------------------------------------------------- WordNet helpers

    def sense_keys(self, lemma: str, pos: str) -> tuple[str, ...]:
        """The sense keys of ``lemma`` with universal ``pos``, in WordNet order (cached).

        Empty for an unknown POS or a lemma WordNet does not have.
        """
        cache_key = (lemma, pos)
        if cache_key not in self._keys_cache:
            keys: tuple[str, ...] = ()
            if pos in INSTANCE_POS:
                wn = self.wordnet
                keys = tuple(wn.sense_key(lemma, synset) for synset in wn.synsets(lemma, pos))
            self._keys_cache[cache_key] = keys
        return self._keys_cache[cache_key]

    def _candidates(self, instance: WSDInstance) -> tuple[str, ...]:
        """The instance's candidate keys; an empty result is counted in ``skipped``."""
        if instance.pos not in INSTANCE_POS:
            self.skipped["unknown_pos"] += 1
            return ()
        keys = self.sense_keys(instance.lemma, instance.pos)
        if not keys:
            self.skipped["no_wordnet_senses"] += 1
        return keys

    def first_sense(self, instance: WSDInstance) -> str | None:
        """WordNet's first sense of the instance's lemma and POS (None: counted skip)."""
        keys = self._candidates(instance)
        return keys[0] if keys else None

    def _training_keys(self, instance: WSDInstance) -> list[str]:
        """The instance's gold keys that are senses of its lemma+POS; others are counted."""
        senses = set(self.sense_keys(instance.lemma, instance.pos))
        valid = [key for key in instance.gold_keys if key in senses]
        if len(valid) < len(instance.gold_keys):
            self.skipped["unknown_gold_key"] += len(instance.gold_keys) - len(valid)
        return valid


def _require_train(system: WSDSystem, train: WSDCorpus | None) -> WSDCorpus:
    """``train`` if it has gold keys; ValueError naming the system otherwise."""
    if train is None or not any(x.gold_keys for x in train.instances):
        raise ValueError(f"{system.name} needs a training corpus with gold keys, e.g. SemCor "
                         "converted by scripts/prepare_semcor.py and read with read_raganato(data_xml, gold_key) "
                         "(scripts/eval_wsd.py: --train X.data.xml --train_gold X.gold.key.txt)")
    return train


class FirstSense(WSDSystem):
    """WordNet's first sense (sense number 1) of the lemma and POS."""

    name = "first_sense"

    def _predict_one(self, instance, corpus):
        return self.first_sense(instance)


class MostFrequentSense(WSDSystem):
    """The sense of the lemma+POS most frequent in the training corpus.

    An instance with ``n`` gold keys adds ``1/n`` to each; ties go to the sense seen first.
    Lemmas unseen in training back off to the WordNet first sense (``stats``).
    """

    name = "mfs"

    def fit(self, train: WSDCorpus | None = None) -> MostFrequentSense:
        super().fit(train)
        counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
        for instance in _require_train(self, train).instances:
            keys = self._training_keys(instance) if instance.pos in INSTANCE_POS else []
            for key in keys:
                counts[instance.lemma, instance.pos][key] += 1 / len(keys)
        # max() keeps the first of equal counts, i.e. the sense seen first.
        self.best = {lemma_pos: max(c, key=c.get) for lemma_pos, c in counts.items()}
        return self

    def _predict_one(self, instance, corpus):
        key = self.best.get((instance.lemma, instance.pos))
        if key is None:
            key = self.first_sense(instance)
            if key is not None:
                self.stats["backoff_first_sense"] += 1
        return key


class Lesk(WSDSystem):
    """NLTK's simplified Lesk (``nltk.wsd.lesk``): the sense whose gloss shares most words
    with the sentence.

    The context is the set of the sentence's lower-cased token texts and lemmas; candidates
    are the lemma's own synsets for the POS (passed to ``lesk``, which then needs no
    ``pos`` filter: NLTK's would drop adjective satellites). Ties go to the earlier
    WordNet sense, so no overlap at all gives the first sense.
    """

    name = "lesk"

    def _predict_one(self, instance, corpus):
        from nltk.corpus import wordnet as nltk_wordnet  # the staged copy get_wordnet() registered
        from nltk.wsd import lesk

        if not self._candidates(instance):
            return None
        wn = self.wordnet
        names = wn.synsets(instance.lemma, instance.pos)
        tokens = corpus.sentence_of(instance).tokens
        context = {t.text.lower() for t in tokens} | {t.lemma.lower() for t in tokens}
        chosen = lesk(context, instance.lemma, synsets=[nltk_wordnet.synset(n) for n in names])
        return wn.sense_key(instance.lemma, chosen.name())


# --------------------------------------------------------------------------- IMS word experts

# IMS's local collocations C(i, j): the words from offset i to j around the target (0 left out).
_COLLOCATIONS = ((-2, -2), (-1, -1), (1, 1), (2, 2), (-2, -1), (-1, 1), (1, 2), (-3, -1),
                 (-2, 1), (-1, 2), (1, 3))
_POS_WINDOW = range(-3, 4)


@functools.cache
def _stop_words() -> frozenset[str]:
    """scikit-learn's English stop words (imported on first use)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def ims_features(tokens: tuple[WSDToken, ...], index: int,
                 stop_words: Iterable[str] = ()) -> dict[str, int]:
    """The IMS features (Zhong and Ng 2010) of the target ``tokens[index]``.

    - ``w=<lemma>``: bag of lower-cased lemmas of the sentence (target, punctuation and
      ``stop_words`` left out);
    - ``c<i>,<j>=<words>``: the 11 local collocations of IMS, lower-cased surface words at
      offsets -2, -1, 1, 2 and the spans (-2,-1) (-1,1) (1,2) (-3,-1) (-2,1) (-1,2) (1,3),
      padded with ``<s>``/``</s>`` beyond the sentence;
    - ``p<k>=<POS>``: the POS tags at offsets -3..3 (0 is the target's own).

    Returns:
        feature name -> 1, ready for ``sklearn.feature_extraction.DictVectorizer``.
    """
    stop = stop_words if isinstance(stop_words, (set, frozenset)) else set(stop_words)
    features = {}
    for position, token in enumerate(tokens):
        lemma = token.lemma.lower()
        if position != index and token.pos != "." and lemma not in stop and any(c.isalnum() for c in lemma):
            features[f"w={lemma}"] = 1

    def word(offset: int) -> str:
        position = index + offset
        if position < 0:
            return "<s>"
        return tokens[position].text.lower() if position < len(tokens) else "</s>"

    for i, j in _COLLOCATIONS:
        features[f"c{i},{j}=" + " ".join(word(k) for k in range(i, j + 1) if k != 0)] = 1
    for k in _POS_WINDOW:
        position = index + k
        pos = tokens[position].pos if 0 <= position < len(tokens) else ("<s>" if position < 0 else "</s>")
        features[f"p{k}={pos}"] = 1
    return features


def _int32(matrix):
    """``matrix`` (CSR) with 32-bit indices: with scipy >= 1.17 DictVectorizer returns 64-bit
    ones, which scikit-learn's liblinear wrapper (1.9) refuses."""
    matrix.indices = matrix.indices.astype("int32", copy=False)
    matrix.indptr = matrix.indptr.astype("int32", copy=False)
    return matrix


class WordExpert(WSDSystem):
    """IMS-style word experts (Zhong and Ng 2010): one linear SVM per lemma+POS.

    Each training instance of a lemma+POS with at least two senses seen in training is a
    :func:`ims_features` example labelled with its first valid gold key; a
    ``DictVectorizer`` + ``LinearSVC(C)`` is fitted per lemma+POS. A lemma+POS seen with one
    sense predicts it; an unseen one backs off to the WordNet first sense (``stats``).

    Args:
        wordnet: as for :class:`WSDSystem`.
        C: the SVM's regularisation parameter.
    """

    name = "word_expert"

    def __init__(self, wordnet=None, *, C: float = 1.0) -> None:
        super().__init__(wordnet)
        self.C = C
        self.experts: dict[tuple[str, str], tuple] = {}
        self.single: dict[tuple[str, str], str] = {}

    def fit(self, train: WSDCorpus | None = None) -> WordExpert:
        super().fit(train)
        stop = _stop_words()
        examples: dict[tuple[str, str], tuple[list, list]] = defaultdict(lambda: ([], []))
        for instance in _require_train(self, train).instances:
            keys = self._training_keys(instance) if instance.pos in INSTANCE_POS else []
            if keys:
                rows, labels = examples[instance.lemma, instance.pos]
                tokens = train.sentence_of(instance).tokens
                rows.append(ims_features(tokens, instance.index, stop))
                labels.append(keys[0])
        self.experts, self.single = {}, {}
        for lemma_pos, (rows, labels) in examples.items():
            if len(set(labels)) == 1:
                self.single[lemma_pos] = labels[0]
            else:
                self.experts[lemma_pos] = self._train_expert(rows, labels)
        self.stats.update(experts=len(self.experts), single_sense_lemmas=len(self.single))
        return self

    def _train_expert(self, rows: list[dict], labels: list[str]) -> tuple:
        """A fitted (DictVectorizer, LinearSVC) pair."""
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.svm import LinearSVC

        vectorizer = DictVectorizer()
        classifier = LinearSVC(C=self.C, dual=True, max_iter=2000)
        classifier.fit(_int32(vectorizer.fit_transform(rows)), labels)
        return vectorizer, classifier

    def _predict_one(self, instance, corpus):
        lemma_pos = (instance.lemma, instance.pos)
        if lemma_pos in self.experts:
            vectorizer, classifier = self.experts[lemma_pos]
            rows = [ims_features(corpus.sentence_of(instance).tokens, instance.index, _stop_words())]
            return str(classifier.predict(_int32(vectorizer.transform(rows)))[0])
        if lemma_pos in self.single:
            return self.single[lemma_pos]
        key = self.first_sense(instance)
        if key is not None:
            self.stats["backoff_first_sense"] += 1
        return key



BASELINES: dict[str, type[WSDSystem]] = {
    "first_sense": FirstSense,
    "mfs": MostFrequentSense,
    "lesk": Lesk,
    "word_expert": WordExpert,
}
