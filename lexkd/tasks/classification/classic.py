"""Classic baselines for text and text-pair classification and regression: TF-IDF + linear model.

Shared by the NLU (GLUE) and plagiarism-detection tasks. :func:`fit_classic` learns a
:class:`ClassicModel` by name (:data:`CLASSIC_MODELS`):

- ``tfidf-logreg``: ``LogisticRegression`` (L2, C = 1, lbfgs; multinomial for > 2 classes);
- ``tfidf-svm``: ``LinearSVC`` (L2, C = 1);
- with ``regression=True`` (STS-B), their regression counterparts: ``tfidf-logreg`` fits ``Ridge``
  (the L2 linear model, alpha = 1), ``tfidf-svm`` ``LinearSVR`` (epsilon-insensitive SVM regression,
  C = 1), so the two rows are two models.

Features (scikit-learn and scipy.sparse only), for one text:

- word 1-2-gram TF-IDF and character 2-5-gram TF-IDF (``char_wb``: n-grams inside word
  boundaries), both lowercased, sublinear tf, L2-normalised rows, concatenated: ``T(x)``.
  Words are ``\\b\\w+\\b`` (single letters and digits kept).

For a pair ``(a, b)`` the vocabularies are fitted on the a and b texts together, and the row is
``[T(a), T(b), |T(a) - T(b)|, T(a) * T(b), P(a, b)]`` (``|.|`` and ``*`` element-wise, sparse),
where ``P`` holds the :data:`PAIR_FEATURE_NAMES` overlap features, each in [0, 1]:

- for word n-grams, n = 1, 2, 3, and for character 2-5-grams (as sets): Jaccard
  ``|A & B| / |A | B|``, containment of a in b ``|A & B| / |A|`` and of b in a ``|A & B| / |B|``
  (0 when a set is empty); the n-gram sets come from a ``HashingVectorizer`` (2**20 buckets,
  no vocabulary, so unseen n-grams count at prediction time);
- the cosine of the word TF-IDF vectors and of the character TF-IDF vectors of a and b;
- the length ratio ``min(words) / max(words)``.

These are the surface-overlap signals that paraphrase and plagiarism detectors have long used
(n-gram containment as in Broder's resemblance/containment, Jaccard of word n-grams, TF-IDF
cosine). They see only strings: synonyms and reordering beyond n-gram windows are invisible to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.svm import LinearSVC, LinearSVR

CLASSIC_MODELS = ("tfidf-logreg", "tfidf-svm")
WORD_PATTERN = r"(?u)\b\w+\b"
_SET_ANALYZERS = {"word1": ("word", (1, 1)), "word2": ("word", (2, 2)), "word3": ("word", (3, 3)),
                  "char2_5": ("char_wb", (2, 5))}
PAIR_FEATURE_NAMES = tuple(
    [f"{kind}_{name}" for name in _SET_ANALYZERS for kind in ("jaccard", "containment_a_in_b", "containment_b_in_a")]
    + ["cosine_word_tfidf", "cosine_char_tfidf", "length_ratio"])


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros_like(numerator, dtype=float), where=denominator > 0)


def _ngram_sets(texts: Sequence[str], analyzer: str, ngram_range: tuple[int, int]) -> sparse.csr_matrix:
    """Binary ``(n_texts, 2**20)`` indicator of each text's n-grams (hashed)."""
    vectorizer = HashingVectorizer(analyzer=analyzer, ngram_range=ngram_range, token_pattern=WORD_PATTERN,
                                   binary=True, norm=None, alternate_sign=False, n_features=2**20)
    return vectorizer.transform(texts)


def _row_dot(rows_a, rows_b) -> np.ndarray:
    return np.asarray(rows_a.multiply(rows_b).sum(axis=1)).ravel()  # (n,)


def pair_features(texts_a: Sequence[str], texts_b: Sequence[str], *, word_tfidf=None, char_tfidf=None) -> np.ndarray:
    """The ``(n_pairs, len(PAIR_FEATURE_NAMES))`` overlap features of the pairs (module docstring).

    Args:
        word_tfidf, char_tfidf: optional ``(rows_a, rows_b)`` L2-normalised TF-IDF matrices of the
            texts, for the two cosines; without them the cosines are those of the binary word
            unigram and character 2-5-gram indicator vectors.

    Raises:
        ValueError: lists of different lengths.
    """
    if len(texts_a) != len(texts_b):
        raise ValueError(f"Pairs need as many first as second texts; got {len(texts_a)} and {len(texts_b)}.")
    columns, indicators = [], {}
    for name, (analyzer, ngram_range) in _SET_ANALYZERS.items():
        set_a, set_b = indicators[name] = (_ngram_sets(texts_a, analyzer, ngram_range),
                                           _ngram_sets(texts_b, analyzer, ngram_range))
        size_a, size_b = np.asarray(set_a.sum(axis=1)).ravel(), np.asarray(set_b.sum(axis=1)).ravel()  # (n,)
        common = _row_dot(set_a, set_b)
        columns += [_ratio(common, size_a + size_b - common), _ratio(common, size_a), _ratio(common, size_b)]
    for rows, name in ((word_tfidf, "word1"), (char_tfidf, "char2_5")):
        if rows is not None:
            columns.append(_row_dot(*rows))
        else:
            set_a, set_b = indicators[name]
            norms = np.sqrt(np.asarray(set_a.sum(axis=1)).ravel() * np.asarray(set_b.sum(axis=1)).ravel())
            columns.append(_ratio(_row_dot(set_a, set_b), norms))
    counter = HashingVectorizer(token_pattern=WORD_PATTERN, norm=None, alternate_sign=False, n_features=2**20)
    words_a, words_b = (np.asarray(counter.transform(t).sum(axis=1)).ravel() for t in (texts_a, texts_b))
    columns.append(_ratio(np.minimum(words_a, words_b), np.maximum(words_a, words_b)))
    return np.column_stack(columns)  # (n, 15)


def _check_texts(texts: Sequence[str], texts_b: Sequence[str] | None, *, pair: bool) -> None:
    if pair and texts_b is None:
        raise ValueError("This model was fitted on text pairs: give texts_b too.")
    if not pair and texts_b is not None:
        raise ValueError("This model was fitted on single texts: texts_b must be None.")
    for which, values in (("texts", texts), ("texts_b", texts_b)):
        if values is not None and not all(isinstance(text, str) for text in values):
            raise ValueError(f"{which} must be strings.")
    if texts_b is not None and len(texts) != len(texts_b):
        raise ValueError(f"Pairs need as many first as second texts; got {len(texts)} and {len(texts_b)}.")


@dataclass
class ClassicModel:
    """A fitted baseline (made by :func:`fit_classic`): the TF-IDF vectorizers and a linear model."""

    name: str
    regression: bool
    pair: bool
    word_vectorizer: TfidfVectorizer
    char_vectorizer: TfidfVectorizer
    estimator: LogisticRegression | LinearSVC | Ridge | LinearSVR | None = None

    def features(self, texts: Sequence[str], texts_b: Sequence[str] | None = None) -> sparse.csr_matrix:
        """The ``(n, n_features)`` sparse feature matrix described in the module docstring.

        Raises:
            ValueError: ``texts_b`` missing for a pair model (or given to a single-text model),
                lengths that differ, or non-string texts.
        """
        _check_texts(texts, texts_b, pair=self.pair)
        word_a, char_a = self.word_vectorizer.transform(texts), self.char_vectorizer.transform(texts)
        rows_a = sparse.hstack([word_a, char_a], format="csr")  # (n, V_word + V_char)
        if not self.pair:
            return rows_a
        word_b, char_b = self.word_vectorizer.transform(texts_b), self.char_vectorizer.transform(texts_b)
        rows_b = sparse.hstack([word_b, char_b], format="csr")
        overlap = pair_features(texts, texts_b, word_tfidf=(word_a, word_b), char_tfidf=(char_a, char_b))
        return sparse.hstack([rows_a, rows_b, abs(rows_a - rows_b), rows_a.multiply(rows_b),
                              sparse.csr_matrix(overlap)], format="csr")  # (n, 4 (V_word + V_char) + 15)

    def predict(self, texts: Sequence[str], texts_b: Sequence[str] | None = None) -> np.ndarray:
        """``(n,)`` predicted labels (values of the labels given to ``fit_classic``), or float
        scores for regression.

        Raises:
            ValueError: as :meth:`features`.
        """
        return self.estimator.predict(self.features(texts, texts_b))


def fit_classic(name: str, texts: Sequence[str], labels: Sequence, *, texts_b: Sequence[str] | None = None,
                regression: bool = False, seed: int = 0) -> ClassicModel:
    """Fit the baseline ``name`` (in :data:`CLASSIC_MODELS`) on texts or text pairs.

    Args:
        texts: ``n`` texts (the first text of each pair).
        labels: ``n`` class labels (any hashable values), or float scores with ``regression``.
        texts_b: the ``n`` second texts of pairs, or ``None`` for single texts.
        regression: fit a regressor on scores instead of a classifier (``Ridge`` for
            ``tfidf-logreg``, ``LinearSVR`` for ``tfidf-svm``).
        seed: ``random_state`` of the classifier.

    Raises:
        ValueError: an unknown name (the valid ones listed), lengths that differ, no text, fewer
            than two classes, or an empty vocabulary.
    """
    if name not in CLASSIC_MODELS:
        raise ValueError(f"Unknown classic model {name!r}; valid: {', '.join(CLASSIC_MODELS)}.")
    texts, labels = list(texts), np.asarray(labels)
    texts_b = None if texts_b is None else list(texts_b)
    _check_texts(texts, texts_b, pair=texts_b is not None)
    if len(texts) == 0 or len(labels) != len(texts):
        raise ValueError(f"Need as many labels as texts (>0); got {len(labels)} and {len(texts)}.")
    if not regression and len(np.unique(labels)) < 2:
        raise ValueError(f"A classifier needs at least two classes; the labels hold only {np.unique(labels)}.")
    word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=WORD_PATTERN, sublinear_tf=True,
                           dtype=np.float32)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, dtype=np.float32)
    vocabulary_texts = texts + texts_b if texts_b is not None else texts
    model = ClassicModel(name, regression, texts_b is not None, word.fit(vocabulary_texts), char.fit(vocabulary_texts))
    if regression and name == "tfidf-logreg":
        estimator = Ridge(alpha=1.0)
    elif regression:
        estimator = LinearSVR(C=1.0, random_state=seed, max_iter=10000)
    elif name == "tfidf-logreg":
        estimator = LogisticRegression(C=1.0, max_iter=1000, random_state=seed)
    else:
        estimator = LinearSVC(C=1.0, random_state=seed)
    model.estimator = estimator.fit(model.features(texts, texts_b), labels)
    return model
