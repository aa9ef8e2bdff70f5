"""Evaluate a WSD system on a data set in the unified format of Raganato et al. (2017).

Writes the answers as a key file (``instance_id sense_key`` per line, the framework's format,
readable by its ``Scorer.java``) and prints P, R, F1 and the per-POS scores as JSON whenever gold
keys are found: ``--gold``, else ``X.gold.key.txt`` beside ``X.data.xml`` (the framework's
naming). The key file used is logged and recorded as ``gold_key_file`` in the JSON (null, and no
``scores``, when there is none). Instances a system cannot answer (a lemma with no WordNet sense)
are left out of the key file and counted under ``skipped``: they lower R, not P, as in
``Scorer.java``. The logic is :mod:`lexkd.tasks.wsd.systems`'.

``--model`` is one of:

- a baseline by name: ``first_sense`` (WordNet's first sense), ``mfs`` (most frequent sense in
  ``--train``), ``lesk`` (NLTK's Lesk), ``word_expert`` (IMS-style classifiers trained on ``--train``);
- an LMGC classifier checkpoint (written by this script to OUTPUT_DIR/model);
- any other checkpoint with ``--train``: fine-tuned here as an LMGC classifier first (training
  flags are ``transformers.TrainingArguments``', e.g. ``--max_steps``, ``--output_dir``);
- a ``BertForPreTraining`` checkpoint with ``--scorer nsp``: scored by its next-sentence head,
  no added parameter (the LMGC-M setting).

With ``--teacher LMGC_CLASSIFIER [...]`` (``--alpha``, ``--temperature``, ``--weighting``), LMGC fine-tuning is
task distillation: gold match labels plus the teachers' combined soft labels over the same pairs, as in
``finetune_glue.py`` (:mod:`lexkd.tasks.wsd.distillation`; teacher logits cached in ``--teacher_logits_dir``).

Examples:
    python scripts/eval_wsd.py --model first_sense --data SE07.data.xml --output fs.key  # scored: SE07.gold.key.txt is beside it
    python scripts/eval_wsd.py --model mfs --train semcor.data.xml --train_gold semcor.gold.key.txt \
        --data SE07.data.xml --gold SE07.gold.key.txt --output mfs.key
    python scripts/eval_wsd.py --model runs/student/model --train semcor.data.xml --train_gold semcor.gold.key.txt \
        --max_train_instances 20000 --max_steps 2000 --output_dir runs/lmgc \
        --data SE07.data.xml --gold SE07.gold.key.txt --output lmgc.key
    python scripts/eval_wsd.py --model runs/student/model --train semcor.data.xml --max_train_instances 20000 \
        --teacher runs/lmgc-minilm/model --alpha 0.5 --temperature 2 --output_dir runs/lmgc-kd \
        --data SE07.data.xml --output lmgc-kd.key
    python scripts/eval_wsd.py --model runs/lexical/model --scorer nsp --data SE07.data.xml --gold SE07.gold.key.txt \
        --output lmgc_m.key
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
import time
from dataclasses import dataclass, field

from transformers import TrainingArguments

from lexkd.tasks.classification.distillation import TaskDistillationArguments
from lexkd.tasks.wsd.baselines import BASELINES
from lexkd.tasks.wsd.raganato import default_key_file, read_raganato
from lexkd.tasks.wsd.systems import evaluate_system, gold_key_for, make_system
from lexkd.utils.cli import parse_args, run_cli
from lexkd.utils.io import write_json_atomically


@dataclass
class EvalArguments:
    model: str = field(metadata={"help": f"A baseline ({', '.join(sorted(BASELINES))}) or a checkpoint (folder or hub id)."})
    data: str = field(metadata={"help": "The evaluation set's .data.xml."})
    output: str = field(metadata={"help": "Key file to write (instance_id sense_key per line)."})
    gold: str | None = field(default=None, metadata={
        "help": "The evaluation set's .gold.key.txt, to score the answers; default: X.gold.key.txt beside X.data.xml "
                "when that file exists (else the answers are written but not scored)."})
    train: str | None = field(
        default=None, metadata={"help": "Training set .data.xml (e.g. SemCor): for mfs and word_expert, or to fine-tune "
                                "LMGC from a checkpoint."}
    )
    train_gold: str | None = field(
        default=None, metadata={"help": "The training set's .gold.key.txt; default: X.gold.key.txt beside X.data.xml "
                                "when that file exists (the framework's naming)."}
    )
    scorer: str = field(
        default="auto", metadata={"help": "For checkpoints without --train: classifier (LMGC), nsp (next-sentence head "
                                  "of a BertForPreTraining) or auto (classifier if the checkpoint is one, else nsp)."}
    )
    max_length: int = field(default=128, metadata={"help": "Tokens per context/gloss pair."})
    eval_batch_size: int = field(default=64, metadata={"help": "Pairs per forward pass (a target's candidates are never split)."})
    max_train_instances: int | None = field(
        default=None, metadata={"help": "Fine-tune LMGC on at most this many training instances (random, --seed)."}
    )
    init_from_nsp: bool = field(
        default=True, metadata={"help": "Start the LMGC classifier from the checkpoint's next-sentence head when it has one."}
    )
    resume: bool = field(default=False, metadata={"help": "Continue LMGC fine-tuning from the last checkpoint in OUTPUT_DIR."})
    allow_missing_keys: bool = field(default=False, metadata={
        "help": "Instances without a gold key (in --gold or --train_gold) are left out and counted, instead of an error."})
    results: str | None = field(default=None, metadata={"help": "Also write the printed JSON to this file."})


DEFAULTS = {"output_dir": "runs/lmgc", "num_train_epochs": 1, "per_device_train_batch_size": 32, "learning_rate": 5e-5,
            "warmup_steps": 0, "logging_steps": 50, "save_steps": 500, "save_total_limit": 2, "report_to": "none"}


def main(argv=None) -> int:
    args, train_args, distillation = parse_args((EvalArguments, TrainingArguments, TaskDistillationArguments), argv,
                                                DEFAULTS)
    if distillation.transfer_examples:
        raise ValueError("--transfer_examples is for the GLUE and plagiarism tasks; LMGC distils on its training pairs "
                         "only. Drop it.")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    start = time.perf_counter()
    gold = gold_key_for(args.data, args.gold)  # --gold, else X.gold.key.txt beside X.data.xml, else unscored
    corpus = read_raganato(args.data, gold, allow_missing_keys=args.allow_missing_keys)
    train = (read_raganato(args.train, args.train_gold or default_key_file(args.train),
                           allow_missing_keys=args.allow_missing_keys) if args.train else None)
    system, kind = make_system(args.model, train=train, train_args=train_args, scorer=args.scorer,
                               max_length=args.max_length, batch_size=args.eval_batch_size,
                               max_train_instances=args.max_train_instances, init_from_nsp=args.init_from_nsp,
                               resume=args.resume, distillation=distillation)
    result = {"model": args.model, "system": kind, "data": args.data,
              **evaluate_system(system, corpus, args.output, gold_key_file=gold)}
    if getattr(system, "training", None):
        result["training"] = system.training
    result["wall_time_s"] = round(time.perf_counter() - start, 1)
    result["command"] = ("python scripts/eval_wsd.py " + shlex.join(sys.argv[1:] if argv is None else argv)).strip()
    if args.results:
        write_json_atomically(result, args.results)
    print(json.dumps(result, indent=2, default=str))
    return 0



def cli() -> None:
    """Console entry point (``pip install`` puts it on the PATH; see ``[project.scripts]``)."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
