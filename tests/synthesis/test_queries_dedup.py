"""MinHash near-duplicate removal: estimates track true Jaccard; LSH finds what is near."""

from __future__ import annotations

import random

import pytest

from nexforge.synthesis.dedup import (
    MinHasher,
    NearDuplicateIndex,
    band_layout,
    estimate,
    jaccard,
    shingles,
)

VOCABULARY = [f"word{i}" for i in range(400)]


def sentence(rng: random.Random, length: int = 30) -> list[str]:
    return [rng.choice(VOCABULARY) for _ in range(length)]


def edited(words: list[str], rng: random.Random, changes: int) -> list[str]:
    copy = list(words)
    for index in rng.sample(range(len(copy)), changes):
        copy[index] = rng.choice(VOCABULARY)
    return copy


def test_shingles_fold_case_accents_and_punctuation() -> None:
    assert shingles("Cancel ORDER 1003, please!") == shingles("cancel order 1003 please")
    assert shingles("Chloé's bike") == shingles("chloe s bike")
    assert shingles("one") == {"one"}
    assert shingles("?!") == set()


def test_the_estimate_is_close_to_the_true_jaccard_similarity() -> None:
    rng = random.Random(11)
    hasher = MinHasher()
    errors = []
    for changes in (0, 2, 5, 10, 20, 30):
        base = sentence(rng)
        other = edited(base, rng, changes)
        a, b = " ".join(base), " ".join(other)
        sig_a, sig_b = hasher.signature(a), hasher.signature(b)
        assert sig_a is not None and sig_b is not None
        errors.append(abs(estimate(sig_a, sig_b) - jaccard(shingles(a), shingles(b))))
    assert errors[0] == 0.0  # identical texts
    assert max(errors) < 0.12
    assert sum(errors) / len(errors) < 0.06


def test_signatures_are_the_same_in_every_process() -> None:
    first = MinHasher(num_perm=16).signature("where is my order 1003")
    assert first == MinHasher(num_perm=16).signature("Where is my order 1003?")
    assert first is not None and len(first) == 16
    assert MinHasher().signature("") is None


def test_band_layout_almost_never_misses_a_pair_at_the_threshold() -> None:
    bands, rows = band_layout(0.8, 128)
    assert bands * rows <= 128
    candidate = lambda s: 1 - (1 - s**rows) ** bands  # noqa: E731
    assert candidate(0.8) > 0.95
    assert candidate(0.3) < 0.05


def test_index_finds_near_duplicates_and_keeps_distinct_texts() -> None:
    rng = random.Random(5)
    index = NearDuplicateIndex(0.8)
    originals = [sentence(rng, 60) for _ in range(200)]
    for i, words in enumerate(originals):
        assert index.nearest(" ".join(words)) is None  # random texts are far apart
        index.add(f"q{i}", " ".join(words))
    assert len(index) == 200
    for i in range(0, 200, 10):
        near = " ".join(edited(originals[i], rng, 1)).upper()  # one word of 60: Jaccard ~0.93
        found = index.nearest(near)
        assert found is not None and found[0] == f"q{i}" and found[1] >= 0.8
        far = " ".join(edited(originals[i], rng, 24))
        assert index.nearest(far) is None


def test_index_reports_the_most_similar_key_and_accepts_signatures() -> None:
    index = NearDuplicateIndex(0.5)
    base = "please check the status of order 1003 for Chloe Martin today thank you so much"
    index.add("exact", base)
    index.add("close", base.replace("today", "tomorrow"))
    signature = index.signature(base)
    found = index.nearest(signature)
    assert found == ("exact", 1.0)
    index.add("exact", "something else entirely")  # a stored key keeps its text
    assert index.nearest(base) == ("exact", 1.0)
    assert index.nearest("") is None


@pytest.mark.parametrize("threshold", [0.0, 1.5])
def test_threshold_must_be_a_similarity(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        NearDuplicateIndex(threshold)
