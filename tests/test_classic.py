"""Classic TF-IDF baselines: pair features against hand-computed values, fitting and errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.svm import LinearSVC, LinearSVR

from lexkd.tasks.classification.classic import (
    CLASSIC_MODELS,
    PAIR_FEATURE_NAMES,
    fit_classic,
    pair_features,
)

POSITIVE = ["good film", "great movie", "a good story", "great acting", "good and great", "a great film"]
NEGATIVE = ["bad film", "awful movie", "a bad story", "awful acting", "bad and awful", "an awful film"]


def features_of(a: str, b: str) -> dict[str, float]:
    return dict(zip(PAIR_FEATURE_NAMES, pair_features([a], [b])[0], strict=True))


def test_pair_features_by_hand():
    assert len(PAIR_FEATURE_NAMES) == 15
    f = features_of("the cat sat", "the cat ran")
    # unigrams {the, cat, sat} vs {the, cat, ran}: 2 common of 4
    assert f["jaccard_word1"] == pytest.approx(2 / 4)
    assert f["containment_a_in_b_word1"] == pytest.approx(2 / 3) == f["containment_b_in_a_word1"]
    # bigrams {the cat, cat sat} vs {the cat, cat ran}: 1 common of 3
    assert f["jaccard_word2"] == pytest.approx(1 / 3) and f["containment_a_in_b_word2"] == pytest.approx(1 / 2)
    assert f["jaccard_word3"] == 0.0 and f["length_ratio"] == 1.0
    assert f["cosine_word_tfidf"] == pytest.approx(2 / 3)  # binary unigram vectors without TF-IDF rows: 2 / (sqrt3 sqrt3)
    assert 0 < f["jaccard_char2_5"] < f["containment_a_in_b_char2_5"] < 1


def test_pair_features_containment_is_directional_and_handles_empty_texts():
    f = features_of("the cat", "the cat sat on the mat")
    assert f["containment_a_in_b_word1"] == 1.0 and f["containment_b_in_a_word1"] == pytest.approx(2 / 5)
    assert f["containment_a_in_b_word2"] == 1.0 and f["length_ratio"] == pytest.approx(2 / 6)  # tokens, not types
    assert set(features_of("same words here", "same words here").values()) == {1.0}
    assert set(features_of("", "something").values()) == {0.0}
    with pytest.raises(ValueError, match="as many first as second"):
        pair_features(["a"], ["a", "b"])


@pytest.mark.parametrize("name, estimator", [("tfidf-logreg", LogisticRegression), ("tfidf-svm", LinearSVC)])
def test_single_text_classifiers_learn_and_predict_the_given_labels(name, estimator):
    labels = ["pos"] * len(POSITIVE) + ["neg"] * len(NEGATIVE)
    model = fit_classic(name, POSITIVE + NEGATIVE, labels, seed=0)
    assert isinstance(model.estimator, estimator) and not model.pair and name in CLASSIC_MODELS
    assert list(model.predict(POSITIVE + NEGATIVE)) == labels
    assert list(model.predict(["a good movie", "an awful story"])) == ["pos", "neg"]
    words, chars = len(model.word_vectorizer.vocabulary_), len(model.char_vectorizer.vocabulary_)
    assert model.features(["good"]).shape == (1, words + chars)


def test_pair_model_uses_overlap_and_has_the_documented_feature_layout():
    rng = np.random.default_rng(0)
    vocabulary = "cat dog bird tree river house car road sun moon star lake hill rain snow wind".split()
    first, second, labels = [], [], []
    for i in range(60):
        sentence = " ".join(rng.choice(vocabulary, 5))
        other = " ".join(rng.choice(vocabulary, 5))
        first.append(sentence)
        second.append(sentence if i % 2 == 0 else other)  # same text -> 1, unrelated -> 0
        labels.append(1 - i % 2)
    model = fit_classic("tfidf-logreg", first, labels, texts_b=second)
    assert model.pair
    assert np.mean(model.predict(first, second) == np.array(labels)) >= 0.9
    width = len(model.word_vectorizer.vocabulary_) + len(model.char_vectorizer.vocabulary_)
    features = model.features(["cat dog bird"], ["cat dog bird"])
    assert features.shape == (1, 4 * width + len(PAIR_FEATURE_NAMES))
    assert features[0, -len(PAIR_FEATURE_NAMES):].toarray().ravel() == pytest.approx(np.ones(15))
    short = model.features(["cat dog"], ["cat dog"])[0, -len(PAIR_FEATURE_NAMES):].toarray().ravel()
    assert list(short[6:9]) == [0.0, 0.0, 0.0]  # no word trigram in either text: 0, as documented
    with pytest.raises(ValueError, match="fitted on text pairs: give texts_b"):
        model.predict(["cat"])


def test_regression_fits_ridge_or_svr_and_returns_scores():
    texts = ["a b c", "x y z", "a b", "q r", "a b c d"]
    scores = {}
    for name, kind in (("tfidf-logreg", Ridge), ("tfidf-svm", LinearSVR)):
        model = fit_classic(name, texts, [4.0, 0.5, 3.0, 1.0, 4.5], texts_b=["a b c"] * 5, regression=True)
        assert isinstance(model.estimator, kind)
        scores[name] = model.predict(texts, ["a b c"] * 5)
        assert scores[name].dtype.kind == "f" and scores[name].shape == (5,)
    assert not np.allclose(scores["tfidf-logreg"], scores["tfidf-svm"])  # two models, not one under two names


def test_fit_classic_errors():
    with pytest.raises(ValueError, match="Unknown classic model 'tfidf-rf'; valid: tfidf-logreg, tfidf-svm"):
        fit_classic("tfidf-rf", POSITIVE, [1] * 6)
    with pytest.raises(ValueError, match="at least two classes"):
        fit_classic("tfidf-logreg", POSITIVE, [1] * 6)
    with pytest.raises(ValueError, match="as many labels as texts"):
        fit_classic("tfidf-logreg", POSITIVE, [1, 0])
    with pytest.raises(ValueError, match="as many first as second"):
        fit_classic("tfidf-logreg", POSITIVE, [1, 0] * 3, texts_b=["x"])
    model = fit_classic("tfidf-logreg", POSITIVE + NEGATIVE, [1] * 6 + [0] * 6)
    with pytest.raises(ValueError, match="fitted on single texts"):
        model.predict(["good"], ["good"])
