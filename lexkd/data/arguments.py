"""Command-line settings of the corpus a job reads (every field is a flag; ``--help`` prints its ``help``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CorpusArguments:
    """Where the text comes from and how it becomes MLM sequences."""

    corpus: list[str] = field(
        default_factory=lambda: ["wordnet"],
        metadata={"help": "Text source(s), read one after the other: 'wordnet' (all WordNet 3.0 glosses and examples, "
                  "built in), a .txt/.jsonl file or folder, an archive of ../shared/data/text (.tar.xz, NLTK .zip), "
                  "or 'hf:NAME' for a Hugging Face dataset. E.g. --corpus ../shared/data/text/wikitext-2 "
                  "../shared/data/text/brown.zip wordnet."},
    )
    text_field: str = field(default="text", metadata={"help": "Text column of a .jsonl file or HF dataset."})
    document_separator: str = field(
        default="auto", metadata={"help": "How .txt files split into documents: auto, line, blank_line, file, wikitext."}
    )
    hf_config: str | None = field(default=None, metadata={"help": "Config name of an 'hf:' dataset."})
    hf_split: str = field(default="train", metadata={"help": "Split of an 'hf:' dataset."})
    max_documents: int | None = field(default=None, metadata={"help": "Read at most this many documents."})
    encoding: str | None = field(
        default=None, metadata={"help": "Text encoding of local files (e.g. latin-1). Default: strict UTF-8, except "
                                "members of the NLTK packages, which fall back to CP1252/Latin-1."})
    validation_fraction: float = field(
        default=0.02, metadata={"help": "Share of documents held out for evaluation (split by document)."}
    )
    split_seed: int = field(default=42, metadata={"help": "Seed of the train/validation document split."})
    max_seq_length: int = field(default=64, metadata={"help": "Tokens per training sequence."})
    line_by_line: bool = field(
        default=False, metadata={"help": "One sequence per paragraph (padded) instead of packing text into full blocks."}
    )
    max_eval_sequences: int | None = field(
        default=512, metadata={"help": "Evaluate on at most this many held-out sequences (all if unset)."}
    )
    eval_masking_seed: int = field(default=1234, metadata={"help": "Seed of the fixed masks of the held-out split."})
    tokenizer: str | None = field(
        default=None,
        metadata={"help": "Tokenizer folder or hub id. Default: the first teacher's; with no teacher, a WordPiece "
                  "tokenizer trained on the corpus and saved to OUTPUT_DIR/tokenizer."},
    )
    vocab_size: int = field(default=8192, metadata={"help": "Vocabulary size of a tokenizer trained on the corpus."})

    def __post_init__(self):
        if isinstance(self.corpus, str):  # one source (a YAML scalar, or a caller's string)
            self.corpus = [self.corpus]
        if not self.corpus:
            raise ValueError("--corpus names no source: give at least one (e.g. --corpus wordnet).")

    @property
    def corpus_label(self) -> str:
        """The sources as one string for reports, e.g. ``"wikitext-2, brown.zip"``."""
        return ", ".join(self.corpus)

    def corpus_kwargs(self) -> dict:
        return {"text_field": self.text_field, "document_separator": self.document_separator,
                "hf_config": self.hf_config, "hf_split": self.hf_split, "max_documents": self.max_documents,
                "encoding": self.encoding}
