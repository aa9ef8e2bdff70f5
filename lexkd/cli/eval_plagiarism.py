"""Fine-tune and evaluate a checkpoint on plagiarism detection, or run a classic baseline on it.

Two tasks (Wahle et al., JCDL 2021 and iConference 2022), both scored with macro F1 and accuracy:

- ``pairs``: is the suspicious sentence a plagiarised paraphrase of the source sentence? Data
  (``--data``): the PAN-2010 pairs of Madnani et al. (2012), a folder or file prefix (default
  ``$LEXKD_SHARED_DATA/paraphrase/pan_plagiarism_pairs``, i.e. ``../shared/data/...``). A folder
  holding PAN's own test files (``pan-test_s1.txt``, ``pan-test_s2.txt``, ``pan-test.labels``) is
  trained on all of ``train`` and reported on them; otherwise (the shared copy has only ``train``)
  on ``train`` minus ``--test_fraction`` of its source sentences (``--split_seed``), reported on
  that held-out part, so that no source sentence is on both sides. The log and ``metrics.json``
  (``settings.test_split``) say which. Or MSRP with its own split:
  ``--data msrp:TRAIN_FILE,TEST_FILE`` (``--data msrp``: the shared copy).
- ``machine-paraphrase``: is this paragraph original or machine-paraphrased? Data: folders in the
  layout of Zenodo record 3608000 (``og/``, ``mg/``), e.g. written by
  ``scripts/make_machine_paraphrase.py``: train on ``--train_corpus``, test on ``--test_corpus``
  (two different source texts), or ``--corpus DIR`` with its own ``train/`` and ``test/`` (else
  split by document here). Train and test of one corpus must not share a source document.

``--model`` is any checkpoint (a folder written by ``save_pretrained``, e.g. lexkd's students and
teachers, or a hub id), fine-tuned as a sequence classifier (pairs as pairs) with
``transformers.Trainer``; or a classic baseline by name: ``tfidf-logreg``, ``tfidf-svm`` (TF-IDF
word and character n-grams; for pairs also n-gram overlap features, ``lexkd/tasks/classification/classic.py``).

Outputs, as ``scripts/finetune_glue.py``: OUTPUT_DIR (default ``runs/plagiarism/{task}/{label}``)
gets ``predictions.tsv`` and ``metrics.json``, and the run becomes a row of
``RESULTS_ROOT/TASK/results.jsonl`` and ``results.md`` (a re-run of the same model, data and
training size replaces its row).

Examples:
    python scripts/eval_plagiarism.py --task pairs --model tfidf-logreg
    python scripts/eval_plagiarism.py --task pairs --model runs/quickstart/student-distilled/model
    python scripts/eval_plagiarism.py --task pairs --model tfidf-svm \\
        --data msrp:msr_paraphrase_train.txt,msr_paraphrase_test.txt
    python scripts/eval_plagiarism.py --task machine-paraphrase --model tfidf-logreg \\
        --train_corpus runs/mp/wikitext2 --test_corpus runs/mp/gutenberg
    python scripts/eval_plagiarism.py --task machine-paraphrase --model bert-base-uncased \\
        --corpus runs/mp/wikitext2 --max_train_examples 500 --max_steps 50
"""

from __future__ import annotations

import logging
import shlex
import sys
import time
from dataclasses import dataclass, field

from transformers import TrainingArguments

from lexkd.data.sampling import subsample
from lexkd.tasks.classification.classic import CLASSIC_MODELS
from lexkd.tasks.classification.distillation import TaskDistillationArguments
from lexkd.tasks.classification.finetune import (
    FINETUNING_DEFAULTS,
    check_model_reference,
    run_and_report,
)
from lexkd.tasks.plagiarism.data import MACHINE_PARAPHRASE_ENCODING
from lexkd.tasks.plagiarism.tasks import (
    TASKS,
    get_plagiarism_task,
    load_plagiarism_data,
    pairs_test_split,
)
from lexkd.utils.cli import parse_args, run_cli


@dataclass
class PlagiarismArguments:
    task: str = field(metadata={"help": f"Task: {', '.join(TASKS)}."})
    model: str = field(metadata={
        "help": f"Checkpoint to fine-tune (folder or hub id), a classic baseline ({', '.join(CLASSIC_MODELS)}), or "
                "cosine:ENCODER, the embedding-similarity detector of pair tasks (cosine of mean-pooled embeddings "
                "of ENCODER, a folder or hub id, with a threshold tuned on the training pairs; nothing trained)."})
    data: str | None = field(default=None, metadata={
        "help": "--task pairs: a folder of PAN pair files (pan-train_s1.txt, pan-train_s2.txt, pan-train.labels) or "
                "their prefix (default: $LEXKD_SHARED_DATA/paraphrase/pan_plagiarism_pairs, else "
                "../shared/data/...): tested on PAN's own pan-test_* files when the folder holds them, else on a "
                "split carved here from train by source sentence; or msrp:TRAIN_FILE,TEST_FILE (MSRP's own "
                "split; 'msrp' alone: the shared copy)."})
    train_corpus: str | None = field(default=None, metadata={
        "help": "--task machine-paraphrase: the training corpus, a folder in the Zenodo 3608000 layout (og/, mg/), "
                "e.g. written by make_machine_paraphrase.py; all of it is read. With --test_corpus."})
    test_corpus: str | None = field(default=None, metadata={
        "help": "--task machine-paraphrase: the test corpus (see --train_corpus), e.g. from another source text."})
    corpus: str | None = field(default=None, metadata={
        "help": "--task machine-paraphrase: one corpus instead, with its own train/ and test/ folders (else split "
                "here by document with --test_fraction and --split_seed)."})
    encoding: str = field(default=MACHINE_PARAPHRASE_ENCODING, metadata={
        "help": "Encoding of the machine-paraphrase files (ISO-8859-1 as in Zenodo 3608000)."})
    test_fraction: float = field(default=0.1, metadata={
        "help": "Share held out for testing where this script splits: PAN source sentences (a folder without PAN's "
                "test files), or the documents of a --corpus without train/ and test/. In (0, 1)."})
    split_seed: int = field(default=42, metadata={"help": "Seed of that held-out split."})
    max_seq_length: int = field(default=128, metadata={"help": "Tokens per example (pairs truncated longest first)."})
    max_train_examples: int | None = field(default=None, metadata={
        "help": "Train on at most this many random examples (--seed), for quick runs."})
    max_eval_examples: int | None = field(default=None, metadata={
        "help": "Evaluate on at most this many random test examples, for quick runs."})
    results_root: str = field(default="runs/plagiarism", metadata={
        "help": "Results tables go to RESULTS_ROOT/TASK/results.jsonl and results.md."})
    label: str | None = field(default=None, metadata={
        "help": "The model's name in the results table (default: its folder name, or the parent's when the "
                "folder is 'model'; the id for hub models). Also fills {label} in --output_dir."})
    save_model: bool = field(default=False, metadata={"help": "Save the fine-tuned model to OUTPUT_DIR/model."})

    def __post_init__(self):
        self.task = get_plagiarism_task(self.task).name
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"--test_fraction must be in (0, 1), got {self.test_fraction}.")


# CPU-friendly defaults, as scripts/finetune_glue.py; every TrainingArguments flag can override
# them. {task} and {label} in --output_dir are filled in after parsing.
DEFAULTS = {"output_dir": "runs/plagiarism/{task}/{label}", **FINETUNING_DEFAULTS}


def main(argv=None) -> int:
    start = time.perf_counter()
    args, distillation, train_args = parse_args((PlagiarismArguments, TaskDistillationArguments, TrainingArguments), argv, DEFAULTS)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    spec = get_plagiarism_task(args.task)
    check_model_reference(args.model)
    for teacher in distillation.teacher:
        check_model_reference(teacher)
    data, source = load_plagiarism_data(spec, data=args.data, train_corpus=args.train_corpus,
                                        test_corpus=args.test_corpus, corpus=args.corpus,
                                        test_fraction=args.test_fraction, split_seed=args.split_seed,
                                        encoding=args.encoding)
    data = subsample(data, max_train_examples=args.max_train_examples, max_eval_examples=args.max_eval_examples,
                     seed=train_args.seed, transfer_examples=distillation.transfer_examples)
    logging.info("%s data from %s: %s", spec.name, source, {split: len(rows) for split, rows in data.items()})
    settings = {"max_train_examples": args.max_train_examples, "max_eval_examples": args.max_eval_examples,
                "test_fraction": args.test_fraction, "split_seed": args.split_seed}
    if spec.name == "pairs":  # PAN's own test split, or one carved from train by source sentence
        settings["test_split"] = pairs_test_split(args.data)
    command = ("python scripts/eval_plagiarism.py " + shlex.join(sys.argv[1:] if argv is None else argv)).strip()
    run_and_report(args.model, data, spec, train_args, source=source, results_root=args.results_root, label=args.label,
                   max_seq_length=args.max_seq_length, save_model=args.save_model, command=command, start_time=start,
                   distillation=distillation,
                   settings=settings)
    return 0



def cli() -> None:
    """Console entry point (``pip install`` puts it on the PATH; see ``[project.scripts]``)."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
