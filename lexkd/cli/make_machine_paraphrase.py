"""Make a machine-paraphrase detection corpus from real text, in the layout of Zenodo record 3608000.

Chooses paragraphs of ``--min_words``..``--max_words`` words from ``--corpus``, rewrites
``--ratio`` of each one's content words with WordNet synonyms (as the spinning tools SpinBot and
SpinnerChief did for the corpus of Wahle et al., iConference 2022), and writes every original
and its spun copy as ISO-8859-1 files::

    OUTPUT/train/og/<document>-ORIG-<paragraph>.txt    OUTPUT/train/mg/<document>-SPUN-<paragraph>.txt
    OUTPUT/test/og/...   OUTPUT/test/mg/...            OUTPUT/manifest.json

Train and test are split by source document (``--test_fraction``, ``--seed``). The folder is
written under a temporary name and renamed when complete; the manifest (settings, counts,
what was left out and why, document ids per side) is written last. Read it back with
``lexkd.tasks.plagiarism.data.read_machine_paraphrase``. Method and limits: ``lexkd/tasks/plagiarism/spinning.py``
and ``data/README.md``. Prints the counts as JSON.

Examples:
    python scripts/make_machine_paraphrase.py --corpus ../shared/data/text/wikitext-2 --output runs/mp/wikitext2
    python scripts/make_machine_paraphrase.py --corpus ../shared/data/text/gutenberg.tar.xz --output runs/mp/gutenberg \
        --max_paragraphs_per_document 200 --ratio 0.5 --seed 42
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import dataclass, field

from lexkd.data.corpora import SEPARATORS, load_corpus
from lexkd.tasks.plagiarism.spinning import write_machine_paraphrase_corpus
from lexkd.utils.cli import parse_args, run_cli


@dataclass
class MachineParaphraseArguments:
    corpus: str = field(
        metadata={"help": "Source text, as for lexkd.data.corpora.load_corpus: a .txt/.jsonl file or folder, an archive of "
                  "../shared/data/text (e.g. gutenberg.tar.xz, brown.zip), 'wordnet', or 'hf:NAME'."}
    )
    output: str = field(metadata={"help": "Corpus folder to create (it must not exist unless --overwrite)."})
    ratio: float = field(default=0.5, metadata={"help": "Share of each paragraph's content words to replace, in (0, 1]."})
    seed: int = field(default=42, metadata={"help": "Seed of the train/test document split, paragraph sampling and spinning."})
    max_documents: int | None = field(default=None, metadata={"help": "Read at most this many documents of the corpus."})
    min_words: int = field(default=40, metadata={"help": "Leave out paragraphs with fewer whitespace-separated words."})
    max_words: int = field(default=300, metadata={"help": "Leave out paragraphs with more whitespace-separated words."})
    test_fraction: float = field(default=0.2, metadata={"help": "Share of source documents in test/, in (0, 1)."})
    max_paragraphs_per_document: int | None = field(
        default=None, metadata={"help": "Keep at most this many paragraphs per document (a seeded sample; all if unset)."}
    )
    max_candidates: int = field(
        default=5, metadata={"help": "Draw each replacement from a word's first N WordNet synonyms (1: always the first)."}
    )
    document_separator: str = field(
        default="auto", metadata={"help": f"How .txt files split into documents: {', '.join(SEPARATORS)}."}
    )
    text_field: str = field(default="text", metadata={"help": "Text field of a .jsonl file or 'hf:' dataset."})
    overwrite: bool = field(default=False, metadata={"help": "Replace an existing --output folder."})


def main(argv=None) -> int:
    (args,) = parse_args((MachineParaphraseArguments,), argv)
    start = time.perf_counter()
    documents = load_corpus(args.corpus, max_documents=args.max_documents, text_field=args.text_field,
                            document_separator=args.document_separator)
    manifest = write_machine_paraphrase_corpus(
        documents, args.output, args.ratio, args.seed,
        test_fraction=args.test_fraction, min_words=args.min_words, max_words=args.max_words,
        max_paragraphs_per_document=args.max_paragraphs_per_document, max_candidates=args.max_candidates,
        source=args.corpus, overwrite=args.overwrite,
    )
    summary = {
        "output": args.output,
        "source": args.corpus,
        "documents_read": len(documents),
        "ratio": args.ratio,
        "seed": args.seed,
        **manifest["counts"],
        "skipped": manifest["skipped"],
        "latin1_transliterated_characters": manifest["latin1_transliterated_characters"],
        "wall_time_s": round(time.perf_counter() - start, 1),
        "command": ("python scripts/make_machine_paraphrase.py " + shlex.join(sys.argv[1:] if argv is None else argv)).strip(),
    }
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0



def cli() -> None:
    """Console entry point (``pip install`` puts it on the PATH; see ``[project.scripts]``)."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
