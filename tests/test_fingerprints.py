"""Model fingerprints of hub models, and caches keyed by a hub model whose commit is unknown.

A fake local Hugging Face cache (``models--ORG--NAME/refs/main`` and ``snapshots/<commit>/``) is
made in the test; nothing is downloaded.
"""

import dataclasses

import datasets
import pytest
from conftest import make_texts, save_tiny_bert

from lexkd.data.tokenization import tokenize_texts
from lexkd.mlm.cache import TeacherCacheError, build_teacher_cache
from lexkd.mlm.cache_reader import TeacherCache
from lexkd.mlm.teachers import Teacher, load_teachers
from lexkd.seq2seq import pseudo_targets
from lexkd.utils.fingerprints import UnpinnedModelError, is_pinned, model_fingerprint

COMMIT_A, COMMIT_B = "a" * 40, "b" * 40


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty local hub cache; ``snapshot(repo, commit)`` puts a model's snapshot in it as refs/main."""
    import huggingface_hub.constants

    root = tmp_path / "hub-cache"
    root.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(root))

    def snapshot(repo_id: str, commit: str) -> None:
        repo = root / f"models--{repo_id.replace('/', '--')}"
        (repo / "snapshots" / commit).mkdir(parents=True, exist_ok=True)
        (repo / "snapshots" / commit / "config.json").write_text("{}")
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(commit)

    return snapshot


def test_hub_model_fingerprint_is_the_cached_commit_and_follows_an_update(hub_cache):
    assert model_fingerprint("org/tiny") == "hub:org/tiny@unknown" and not is_pinned(model_fingerprint("org/tiny"))
    hub_cache("org/tiny", COMMIT_A)
    assert model_fingerprint("org/tiny") == f"hub:org/tiny@{COMMIT_A}" and is_pinned(model_fingerprint("org/tiny"))
    hub_cache("org/tiny", COMMIT_B)  # the hub model was updated and the new version downloaded
    assert model_fingerprint("org/tiny") == f"hub:org/tiny@{COMMIT_B}"


def test_local_folders_and_bad_hub_ids_are_told_apart(tmp_path, hub_cache, tokenizer):
    folder = save_tiny_bert(tmp_path / "m", tokenizer)
    assert model_fingerprint(folder).startswith("sha256:") and is_pinned(model_fingerprint(folder))
    assert not is_pinned(model_fingerprint(str(tmp_path / "not" / "a" / "folder")))  # no hub id either: unknown


# ---------------------------------------------------------------- the MLM teacher cache


@pytest.fixture(scope="module")
def tiny_teacher_model(tmp_path_factory, tokenizer):
    return load_teachers([str(save_tiny_bert(tmp_path_factory.mktemp("t") / "model", tokenizer, seed=4))])[0].model


@pytest.fixture(scope="module")
def sequences(tokenizer):
    return tokenize_texts(make_texts(12, seed=3), tokenizer, max_seq_length=16)


def build(teacher, tokenizer, sequences, path, **kwargs):
    return build_teacher_cache([teacher], tokenizer, sequences, path, top_k=4, batch_size=8, shard_size=4, **kwargs)


def test_teacher_cache_of_an_unpinned_hub_teacher_is_not_reused_silently(tmp_path, hub_cache, tokenizer,
                                                                         tiny_teacher_model, sequences):
    teacher, path = Teacher("org/tiny-teacher", tiny_teacher_model, tokenizer), tmp_path / "cache"
    meta = build(teacher, tokenizer, sequences, path)  # a fresh build is fine
    assert meta["config"]["teachers"][0]["fingerprint"] == "hub:org/tiny-teacher@unknown"
    with pytest.raises(UnpinnedModelError, match=r"teacher cache .*cache.*'org/tiny-teacher'.*--allow_unpinned_teacher"):
        build(teacher, tokenizer, sequences, path)
    assert build(teacher, tokenizer, sequences, path, allow_unpinned_teacher=True) == meta
    assert build(teacher, tokenizer, sequences, path, overwrite=True)["config"] == meta["config"]  # rebuilt
    (path / "cache_meta.json").unlink()  # an interrupted build: resuming reuses its shards, so it is refused too
    with pytest.raises(UnpinnedModelError):
        build(teacher, tokenizer, sequences, path)
    build(teacher, tokenizer, sequences, path, allow_unpinned_teacher=True)  # resumed
    cache = TeacherCache.open(path)
    with pytest.raises(UnpinnedModelError, match="org/tiny-teacher"):
        cache.check_pinned()
    cache.check_pinned(allow_unpinned_teacher=True)


def test_teacher_cache_of_a_pinned_hub_teacher_is_reused_until_the_hub_model_changes(
        tmp_path, hub_cache, tokenizer, tiny_teacher_model, sequences):
    teacher, path = Teacher("org/tiny-teacher", tiny_teacher_model, tokenizer), tmp_path / "cache"
    hub_cache("org/tiny-teacher", COMMIT_A)
    meta = build(teacher, tokenizer, sequences, path)
    assert build(teacher, tokenizer, sequences, path) == meta  # pinned: reused, no flag needed
    TeacherCache.open(path).check_pinned()
    hub_cache("org/tiny-teacher", COMMIT_B)
    with pytest.raises(TeacherCacheError, match="teachers"):  # another teacher version: not this cache
        build(teacher, tokenizer, sequences, path)


def test_main_job_refuses_an_unpinned_teacher_cache_before_any_work(tmp_path, hub_cache, tokenizer,
                                                                     tiny_teacher_model, sequences):
    from lexkd.data.arguments import CorpusArguments
    from lexkd.mlm.arguments import TeacherArguments
    from lexkd.mlm.job import prepare_job
    from lexkd.mlm.trainer import DistillationArguments

    build(Teacher("org/tiny-teacher", tiny_teacher_model, tokenizer), tokenizer, sequences, tmp_path / "cache")
    cache = TeacherCache.open(tmp_path / "cache")
    corpus = CorpusArguments(corpus=str(tmp_path / "no-such-corpus.txt"))
    train_args = DistillationArguments(output_dir=str(tmp_path / "run"), use_cpu=True, report_to="none")
    with pytest.raises(UnpinnedModelError, match="--allow_unpinned_teacher"):
        prepare_job(TeacherArguments(), corpus, train_args, teacher_cache=cache)
    with pytest.raises(FileNotFoundError, match="no-such-corpus"):  # the flag lets it through to the corpus
        prepare_job(TeacherArguments(allow_unpinned_teacher=True), corpus, train_args, teacher_cache=cache)


# ---------------------------------------------------------------- seq2seq pseudo-targets and teacher


def test_pseudo_targets_of_an_unpinned_teacher_are_not_reused_silently(tmp_path, tokenizer, monkeypatch):
    from lexkd.models.seq2seq import GenerationSettings

    calls = []

    def fake_generate(teacher, tokenizer, sources, settings, **kwargs):
        calls.append(len(sources))
        return {"source_index": list(range(len(sources))), "sample_index": [0] * len(sources),
                "target_ids": [[5, 6]] * len(sources), "truncated": [False] * len(sources)}

    monkeypatch.setattr(pseudo_targets, "generate_pseudo_targets", fake_generate)
    sources, settings = ["a cat sat", "the dog ran"], GenerationSettings(max_new_tokens=4)

    def load(fingerprint, **kwargs):
        return pseudo_targets.load_or_generate(None, tokenizer, sources, settings, cache_dir=tmp_path, max_source_length=8,
                                               teacher_fingerprint=fingerprint, **kwargs)

    first, folder = load("hub:org/t5-tiny@unknown")
    with pytest.raises(UnpinnedModelError, match=r"pseudo-target cache .*'org/t5-tiny'.*delete"):
        load("hub:org/t5-tiny@unknown")
    again, _ = load("hub:org/t5-tiny@unknown", allow_unpinned_teacher=True)
    assert calls == [2] and again["target_ids"] == first["target_ids"]
    load(f"hub:org/t5-tiny@{COMMIT_A}")
    load(f"hub:org/t5-tiny@{COMMIT_A}")  # a pinned teacher's cache is reused without a flag
    assert calls == [2, 2]


def test_seq2seq_teacher_of_an_unpinned_init_is_not_reused_silently(tmp_path, hub_cache, tokenizer, monkeypatch,
                                                                    student_checkpoint):
    from lexkd.seq2seq import job
    from lexkd.seq2seq.trainer import Seq2SeqDistillationArguments

    class Unreachable:
        @staticmethod
        def from_pretrained(name, *args, **kwargs):
            raise OSError(f"{name}: the hub is unreachable")

    real_build = job.build_bert2bert
    monkeypatch.setattr(job, "AutoConfig", Unreachable)
    monkeypatch.setattr(job, "load_student", lambda name, tokenizer=None, role="student": real_build(
        str(student_checkpoint), tokenizer=tokenizer))
    texts = make_texts(8, seed=2)
    pairs = {"source": texts, "target": [" ".join(t.split()[:3]) for t in texts]}
    data = datasets.DatasetDict(train=datasets.Dataset.from_dict(pairs),
                                validation=datasets.Dataset.from_dict({k: v[:2] for k, v in pairs.items()}))
    model_args = job.NLGModelArguments(teacher_init="org/tiny-init", teacher_max_steps=1, eval_num_beams=1)
    data_args = job.NLGDataArguments(task="files", max_source_length=16, max_target_length=4)
    train_args = Seq2SeqDistillationArguments(output_dir=str(tmp_path / "x"), per_device_train_batch_size=4,
                                              use_cpu=True, report_to="none", save_strategy="no", disable_tqdm=True)

    def teacher(args):
        return job.train_or_load_teacher(args, data_args, data, tokenizer, train_args, tmp_path / "root", "files")

    *_, report = teacher(model_args)
    assert report is not None  # trained here
    with pytest.raises(UnpinnedModelError, match=r"teacher in .*teacher-.*'org/tiny-init'.*--allow_unpinned_teacher"):
        teacher(model_args)
    *_, report = teacher(dataclasses.replace(model_args, allow_unpinned_teacher=True))
    assert report is None  # reused


def test_seq2seq_teacher_init_not_yet_cached_is_pinned_by_fetching_its_config(hub_cache, monkeypatch):
    from lexkd.seq2seq import job

    fetched = []

    class Hub:
        @staticmethod
        def from_pretrained(name, *args, **kwargs):
            fetched.append(name)
            hub_cache(name, COMMIT_A)  # what downloading the config does to the local cache

    monkeypatch.setattr(job, "AutoConfig", Hub)
    assert job._init_fingerprint("org/tiny-init") == f"hub:org/tiny-init@{COMMIT_A}" and fetched == ["org/tiny-init"]
    assert job._init_fingerprint("org/tiny-init") == f"hub:org/tiny-init@{COMMIT_A}" and len(fetched) == 1


def test_help_explains_the_unpinned_flags():
    from lexkd.mlm.arguments import TeacherArguments, TeacherCacheArguments
    from lexkd.seq2seq.job import NLGModelArguments

    for arguments in (TeacherArguments, TeacherCacheArguments, NLGModelArguments):
        help_text = arguments.__dataclass_fields__["allow_unpinned_teacher"].metadata["help"]
        assert "commit" in help_text and "refused" in help_text, arguments


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # a stray hub call fails fast
