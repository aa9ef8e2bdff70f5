"""Shared fixtures and helpers, built in the test, nothing downloaded: a tiny tokenizer and corpus,
the one stand-in WordNet (:class:`FakeWordNet`), tiny WSD corpora, the spinner's documents and a
tiny GLUE folder."""

from __future__ import annotations

import io
import json
import os
import random
import socket
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from lexkd.data.tokenization import train_wordpiece_tokenizer
from lexkd.lexical.wordnet import (
    LemmaNotInSynsetError,
    Sense,
    SenseCountUnavailableError,
    UnknownSenseKeyError,
    UnknownSynsetError,
    normalize_pos,
)

WORDS = (
    "the a cat dog bird sat ran flew on under over mat house tree river bank money water "
    "red green small big old young and with to of in"
).split()


def make_texts(n: int = 300, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 14))) for _ in range(n)]


@pytest.fixture(scope="session")
def texts() -> list[str]:
    return make_texts()


@pytest.fixture(scope="session")
def tokenizer(texts):
    return train_wordpiece_tokenizer(texts, vocab_size=120, min_frequency=1)


# The shared data folder is found as lexkd finds it (lexkd.utils.paths.shared_data_dir); fix it
# once here, relative to the repository, so that a test changing the working directory does not move it.
os.environ.setdefault("LEXKD_SHARED_DATA", str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder beside the project (``LEXKD_SHARED_DATA``, default ``../shared/data``)."""
    from lexkd.utils.paths import shared_data_dir

    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} is absent (set LEXKD_SHARED_DATA)")
    return path


def save_tiny_bert(folder: Path, tokenizer, *, hidden_size: int = 32, seed: int = 0) -> Path:
    """Save a tiny BertForPreTraining (lexkd's student format, 2 layers) with ``tokenizer`` in ``folder``."""
    import torch
    from transformers import BertConfig, BertForPreTraining

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=2 * hidden_size, max_position_embeddings=128)
    BertForPreTraining(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def run_named_script(name: str, argv: list[str]) -> int:
    """Run ``scripts/<name>.py``'s ``main(argv)`` as the command line does (through ``run_cli``)."""
    import importlib
    import sys

    from lexkd.utils.cli import run_cli

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    try:
        module = importlib.import_module(name)
    finally:
        sys.path.pop(0)
    return run_cli(lambda: module.main(argv))


@pytest.fixture(scope="session")
def student_checkpoint(tmp_path_factory, tokenizer) -> Path:
    """A tiny BertForPreTraining (lexkd's student format) saved with its tokenizer, in ``.../student/model``."""
    return save_tiny_bert(tmp_path_factory.mktemp("ckpt") / "student" / "model", tokenizer)


# --------------------------------------------------------------------------- the stand-in WordNet

_SS_TYPE = {"n": "1", "v": "2", "a": "3", "r": "4", "s": "5"}


def _lemma(lemma: str) -> str:
    """WordNet's form of a lemma for lookups: lower case, words joined by underscores."""
    return "_".join(lemma.strip().lower().split())


@dataclass(frozen=True)
class FakeSynset:
    """One synset of a :class:`FakeWordNet`; ``pos`` None takes it from the name (``bank.n.01``)."""

    lemmas: tuple[str, ...]
    gloss: str = ""
    examples: tuple[str, ...] = ()
    pos: str | None = None
    lexname: str = ""


class FakeWordNet:
    """An in-memory WordNet with the methods, return types and errors of ``lexkd.lexical.wordnet.WordNet``.

    Args:
        synsets: name -> :class:`FakeSynset` or ``(lemmas, gloss, examples)``, in "data file" order
            (:meth:`all_synsets` goes by part of speech n, v, a with s, r, then this order).
        index: lemma -> synset names in sense order (WordNet's index files); default: each lemma
            of each synset, in synset order. A lemma not in it has no senses.
        keys: (lemma, synset) -> sense key; default ``<lemma>%<ss_type>:00:<nn>::``.
        counts: sense key -> tag count (absent keys count 0); None: no counts at all, so
            :meth:`lemma_count` and :meth:`senses` raise ``SenseCountUnavailableError``, as the
            real class does without ``cntlist.rev``.
    """

    version, source, staged_root = "3.0", "FakeWordNet", None

    def __init__(self, synsets: Mapping[str, FakeSynset | tuple], *, index: Mapping[str, Sequence[str]] | None = None,
                 keys: Mapping[tuple[str, str], str] | None = None, counts: Mapping[str, int] | None = None) -> None:
        self._synsets = {name: s if isinstance(s, FakeSynset) else FakeSynset(tuple(s[0]), s[1], tuple(s[2]))
                         for name, s in synsets.items()}
        if index is None:
            index = {}
            for name, synset in self._synsets.items():
                for lemma in synset.lemmas:
                    index.setdefault(lemma, []).append(name)
        self._index = {}
        for lemma, names in index.items():
            self._index[_lemma(lemma)] = list(dict.fromkeys(self._index.get(_lemma(lemma), []) + list(names)))
        self._keys = {(_lemma(lemma), synset): key for (lemma, synset), key in (keys or {}).items()}
        self._counts = None if counts is None else {key.lower(): n for key, n in counts.items()}
        self._by_key = {key.lower(): synset for (_, synset), key in self._keys.items()}
        for name, synset in self._synsets.items():
            for lemma in synset.lemmas:
                self._by_key.setdefault(self._key(_lemma(lemma), name).lower(), name)

    @classmethod
    def from_senses(cls, table: Mapping[tuple[str, str], Sequence[Sense]], *, counts: bool = True) -> FakeWordNet:
        """From ``{(lemma, pos): [Sense, ...]}`` in sense order: each sense's synset gets its gloss,
        examples and the lemma; its key and count are the sense's."""
        lemmas, facts, index, keys, tags = {}, {}, {}, {}, {}
        for (lemma, pos), senses in table.items():
            for sense in senses:
                facts.setdefault(sense.synset, (sense.gloss, tuple(sense.examples), normalize_pos(pos)))
                lemmas.setdefault(sense.synset, {})[lemma] = None
                index.setdefault(lemma, []).append(sense.synset)
                keys[(lemma, sense.synset)] = sense.sense_key
                tags[sense.sense_key] = sense.count
        synsets = {name: FakeSynset(tuple(lemmas[name]), gloss, examples, pos)
                   for name, (gloss, examples, pos) in facts.items()}
        return cls(synsets, index=index, keys=keys, counts=tags if counts else None)

    def __repr__(self) -> str:
        return f"FakeWordNet({len(self._synsets)} synsets)"

    def _synset(self, name: str) -> FakeSynset:
        if not isinstance(name, str) or name not in self._synsets:
            raise UnknownSynsetError(f"unknown WordNet synset {name!r}")
        return self._synsets[name]

    def _key(self, lemma: str, synset: str) -> str:
        key = self._keys.get((lemma, synset))
        if key is None:
            senses = self._index.get(lemma, [])
            number = senses.index(synset) + 1 if synset in senses else 0
            key = f"{lemma}%{_SS_TYPE[self.pos(synset)]}:00:{number:02d}::"
        return key

    def synsets(self, lemma: str, pos: str | None = None) -> list[str]:
        letters = ("n", "v", "a", "r") if pos is None else (normalize_pos(pos),)
        names = self._index.get(_lemma(lemma), [])
        found: list[str] = []
        for letter in letters:
            accepted = {"a", "s"} if letter == "a" else {letter}
            found += [name for name in names if self.pos(name) in accepted and name not in found]
        return found

    def gloss(self, synset: str) -> str:
        return self._synset(synset).gloss

    def examples(self, synset: str) -> list[str]:
        return list(self._synset(synset).examples)

    def lemma_names(self, synset: str) -> list[str]:
        return list(self._synset(synset).lemmas)

    def pos(self, synset: str) -> str:
        return self._synset(synset).pos or synset.rsplit(".", 2)[-2]

    def lexname(self, synset: str) -> str:
        return self._synset(synset).lexname

    def sense_key(self, lemma: str, synset: str) -> str:
        names = {_lemma(name) for name in self._synset(synset).lemmas}
        if _lemma(lemma) not in names:
            raise LemmaNotInSynsetError(f"{lemma!r} is not a lemma of {synset!r} (lemmas: {self.lemma_names(synset)})")
        return self._key(_lemma(lemma), synset)

    def sense_keys(self, synset: str) -> list[str]:
        return [self._key(name, synset) for name in dict.fromkeys(_lemma(x) for x in self._synset(synset).lemmas)]

    def synset_from_sense_key(self, key: str) -> str:
        synset = self._by_key.get(key.strip().lower() if isinstance(key, str) else None)
        if synset is None:
            raise UnknownSenseKeyError(f"unknown WordNet 3.0 sense key {key!r}")
        return synset

    def lemma_count(self, sense_key: str) -> int:
        self.synset_from_sense_key(sense_key)
        if self._counts is None:
            raise SenseCountUnavailableError("no sense counts: this FakeWordNet was built without counts")
        return self._counts.get(sense_key.strip().lower(), 0)

    def senses(self, lemma: str, pos: str | None = None) -> list[Sense]:
        result = []
        for name in self.synsets(lemma, pos):
            key, synset = self._key(_lemma(lemma), name), self._synsets[name]
            result.append(Sense(key, name, synset.gloss, tuple(synset.examples), self.lemma_count(key)))
        return result

    def all_synsets(self, pos: str | None = None) -> Iterator[str]:
        letters = ("n", "v", "a", "r") if pos is None else (normalize_pos(pos),)
        accepted = [{"a", "s"} if letter == "a" else {letter} for letter in letters]
        return (name for wanted in accepted for name in list(self._synsets) if self.pos(name) in wanted)


# The WSD tests' WordNet (glosses, LMGC): bank with three noun senses, dog with one.
WSD_SENSES = {
    ("bank", "n"): [Sense("bank%1:17:01::", "bank.n.01", "sloping land beside a river", (), 25),
                    Sense("bank%1:14:00::", "depository_financial_institution.n.01", "a place that keeps money", (), 20),
                    Sense("bank%1:17:00::", "bank.n.03", "a long ridge or pile", (), 2)],
    ("dog", "n"): [Sense("dog%1:05:00::", "dog.n.01", "a small animal kept at the house", (), 42)],
}


@pytest.fixture
def fake_wordnet() -> FakeWordNet:
    """The stand-in WordNet of the WSD tests: :data:`WSD_SENSES` (bank, dog), with counts."""
    return FakeWordNet.from_senses(WSD_SENSES)


def make_wsd_corpus(instances_spec):
    """A WSD corpus: one sentence and instance per (sentence words, target index, lemma, pos, gold keys)."""
    from lexkd.tasks.wsd.raganato import WSDCorpus, WSDInstance, WSDSentence, WSDToken

    sentences, instances = {}, []
    for number, (words, index, lemma, pos, gold) in enumerate(instances_spec):
        sid = f"d0.s{number}"
        iid = f"{sid}.t0"
        tokens = tuple(WSDToken(w, w.lower(), pos if i == index else "X", iid if i == index else None)
                       for i, w in enumerate(words))
        sentences[sid] = WSDSentence(sid, tokens)
        instances.append(WSDInstance(iid, sid, index, lemma, pos, words[index], tuple(gold)))
    return WSDCorpus("toy", sentences, instances)


# --------------------------------------------------------------------------- the spinner's WordNet and documents

# word -> [(synset, SemCor count, lemmas)], listed in "WordNet order" (counts reorder them).
SPINNER_LEXICON = {
    "house": [("house.n.01", 10, ["house", "home", "dwelling"]), ("firm.n.01", 2, ["firm", "house", "business_firm"])],
    "river": [("river.n.01", 5, ["river", "stream"])],
    "red": [("red.s.01", 4, ["red", "crimson", "scarlet"])],
    # WordNet order puts the rare sense first; the count must win. "Erstwhile" (a capital) is never used.
    "old": [("old.s.02", 1, ["old", "ancient", "Erstwhile"]), ("old.a.01", 8, ["old", "aged"])],
    "garden": [("garden.n.01", 4, ["garden", "plot", "also", "kitchen-garden"])],  # stop word and hyphen: never used
    "smith": [("smith.n.01", 3, ["smith", "blacksmith"])],
    "valley": [("valley.n.01", 3, ["valley", "vale"])],
    "years": [],
    # The most frequent sense here is a slur's: its lemmas are never used.
    "queen": [("queen.n.02", 5, ["queen", "monarch"]), ("fagot.n.01", 9, ["queen", "poof"])],
}
SPINNER_GLOSSES = {"fagot.n.01": "offensive term for an openly homosexual man"}

SPINNER_DOCUMENTS = [
    ["The old house and the red river were there for years.", "Short."],
    ["A red house in the valley, by the river – an old one.", "The garden by the old house is red and old."],
    ["The café by the old river had a red house near it.", "Nothing here has any synonym at all today, friends."],
    ["An old valley with a river and a house, all red.", "The α house by the old red river stood for years."],
    ["The river ran past the old house and the red garden.", "The house in the old valley was red for years."],
    ["Another old house by another red river, in a valley."],
]


def spinner_wordnet() -> FakeWordNet:
    """:data:`SPINNER_LEXICON` as a WordNet: only its words have senses (keys ``<word>%<i>``), each
    synset's gloss is "a gloss" unless :data:`SPINNER_GLOSSES` has one."""
    synsets = {name: FakeSynset(tuple(lemmas), SPINNER_GLOSSES.get(name, "a gloss"))
               for senses in SPINNER_LEXICON.values() for name, _, lemmas in senses}
    keys = {(word, name): f"{word}%{i}" for word, senses in SPINNER_LEXICON.items() for i, (name, _, _) in enumerate(senses)}
    counts = {f"{word}%{i}": n for word, senses in SPINNER_LEXICON.items() for i, (_, n, _) in enumerate(senses)}
    index = {word: [name for name, _, _ in senses] for word, senses in SPINNER_LEXICON.items()}
    return FakeWordNet(synsets, index=index, keys=keys, counts=counts)


# --------------------------------------------------------------------------- a tiny GLUE folder

MSRP_HEADER = "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\r\n"


def msrp_rows(n: int, start: int = 0) -> str:
    return "".join(f'{i % 2}\t{1000 + i}\t{5000 + i}\tHe said "yes" {i}.\tShe said "no" {i}.\r\n'
                   for i in range(start, start + n))


def json_records(rows: list[tuple[str, str, str]]) -> bytes:
    return json.dumps({str(i): {"text_a": a, "text_b": b, "label": y} for i, (a, b, y) in enumerate(rows)},
                      indent=4).encode()


def write_glue_archive(path, members: dict[str, bytes]) -> None:
    """A ``tar.xz`` with ``members`` under ``PowerfulPromptFT/data/glue_pretrain/``, as the real archive."""
    with tarfile.open(path, "w:xz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"PowerfulPromptFT/data/glue_pretrain/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def write_glue_fixture(root, mrpc_train_rows: int | None = None):
    """A tiny GLUE folder in the layout of ../shared/data/glue (header, quoting, line ends, BOM as there);
    MRPC gets ``mrpc_train_rows`` training rows (default: its dev size + 12)."""
    from lexkd.tasks.glue.data import ARCHIVE_NAME, MRPC_DEV_SIZE

    mrpc_train_rows = MRPC_DEV_SIZE + 12 if mrpc_train_rows is None else mrpc_train_rows
    files = {
        "SST-2/train.tsv": b"label\tsentence\r\n0\tbad film\r\n1\tgood film\r\n1\ta \"great\" film\r\n",
        "SST-2/dev.tsv": b"label\tcontent\n1\tgreat\n0\tawful\n",
        "CoLA/in_domain_train.tsv": b"gj04\t1\t\tThe cat sat.\ngj04\t0\t*\tCat the sat.\ncj99\t1\t\tA dog ran.\n",
        "CoLA/in_domain_dev.tsv": b"gj04\t0\t*\tSat cat the.\n",
        "MRPC/msr_paraphrase_train.txt": (MSRP_HEADER + msrp_rows(mrpc_train_rows)).encode(),
        "MRPC/msr_paraphrase_test.txt": (MSRP_HEADER + msrp_rows(3, start=900)).encode(),
        "STS-B/train.tsv": b"index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
                           b"0\tmain-news\tx\t2012\t1\tnone\tnone\tA \"quoted\" man.\tA man.\t3.800\n"
                           b"1\tmain-news\tx\t2012\t2\tnone\tnone\tA cat.\tA dog.\t0.500\n",
        "STS-B/dev.tsv": b"index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
                         b"0\tmain-news\tx\t2012\t3\tnone\tnone\tA bird.\tA bird.\t5.000\n",
        "RTE/train.tsv": b"sentence1\tsentence2\tlabel\tidx\nA cat sat.\tA cat exists.\t0\t0\nA cat sat.\tNo cat.\t1\t1\n",
        "RTE/dev.tsv": b"sentence1\tsentence2\tlabel\tidx\nA dog ran.\tA dog moved.\t0\t0\n",
        "WNLI/train.tsv": b"index\tsentence1\tsentence2\tlabel\n1\tJohn is short.\tJohn is short.\t1\n",
        "WNLI/val.tsv": b"0\tI stuck a pin.\tThe pin stuck.\t0\n2\tThe carrot had a hole.\tIt had a hole.\t1\n",
        "WNLI/dev.tsv": b"index\tsentence1\tsentence2\tlabel\n0\tThe drain is clogged.\tIt is clogged.\t1\n",
        "QNLI/dev.tsv": b"index\tquestion\tsentence\tlabel\n0\tWhat came?\tIt came.\tentailment\n"
                        b"1\tWho ran?\tThe sky is blue.\tnot_entailment\n",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    write_glue_archive(root / ARCHIVE_NAME, {
        "MNLI/train.json": json_records([("A man.", "A person.", "entailment"), ("A man.", "A cat.", "contradiction"),
                                         ("A man.", "A tall man.", "neutral")]),
        "MNLI/dev.json": json_records([("A dog.", "An animal.", "entailment")]),
        "QQP/train.json": json_records([("How?", "How so?", "1"), ("Why?", "When?", "0")]),
        "QQP/dev.json": json_records([("Who?", "Who is it?", "1")]),
        "QNLI/train.json": json_records([("What?", "That.", "entailment"), ("Who?", "No one knows.", "not_entailment")]),
        "SST-2/train.json": json_records([("ignored", None, "0")]),
    })
    return root


# A tiny corpus in the unified format of Raganato et al. (2017), for the WSD script tests.
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


# A tiny corpus and gold key in the unified format, for the Raganato reader and scorer tests.
RAGANATO_DATA = """<?xml version="1.0" encoding="UTF-8" ?>
<corpus lang="en" source="tiny">
<text id="d000">
<sentence id="d000.s000">
<wf lemma="the" pos="DET">The</wf>
<instance id="d000.s000.t000" lemma="bank" pos="NOUN">bank</instance>
<instance id="d000.s000.t001" lemma="close" pos="VERB">closed</instance>
<wf lemma="." pos=".">.</wf>
</sentence>
<sentence id="d000.s001">
<wf lemma="we" pos="PRON">We</wf>
<instance id="d000.s001.t000" lemma="point_out" pos="VERB">pointed out</instance>
<wf lemma="n't" pos="ADV">n't</wf>
</sentence>
</text>
<text id="d001">
<sentence id="d001.s000">
<instance id="d001.s000.t000" lemma="quickly" pos="ADV">Quickly</instance>
</sentence>
</text>
</corpus>
"""
RAGANATO_KEYS = """d000.s000.t000 bank%1:14:00::
d000.s000.t001 close%2:35:00:: close%2:41:00::
d000.s001.t000 point_out%2:32:00::
d001.s000.t000 quickly%4:02:00::
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def free_port() -> int:
    """A TCP port free on this machine now (for torchrun's --master_port; tests may run in parallel)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
