#!/usr/bin/env python
"""LMGC-M lexical pretraining: teach a BertForPreTraining student WordNet senses without new parameters.

On the gloss/context pairs of a sense-tagged corpus (SemCor in the Raganato format, made by
``scripts/prepare_semcor.py``), the student is trained with

    loss = MLM loss on the pair's tokens (or the multi-teacher MLM loss, with --teachers and --alpha)
           + nsp_weight * CE(gloss match) through its existing next-sentence head

and its parameter count is checked unchanged. Its held-out MLM loss is measured before and after
on the MLM job's held-out split (same --corpus, --validation_fraction, --split_seed,
--max_seq_length, --eval_masking_seed as ``pretrain_multiteacher.py`` give the same set), and,
with --dev, its WSD scores through the next-sentence head. Writes OUTPUT_DIR/{run_config.json,
metrics.jsonl, checkpoint-*, model/, lexical_results.json, report.md}.

Examples:
    python scripts/pretrain_lexical.py --student runs/quickstart/student-distilled/model \
        --semcor data/semcor.data.xml --semcor_gold data/semcor.gold.key.txt \
        --dev ../shared/data/wsd/raganato2017/semeval2007/semeval2007.data.xml \
        --dev_gold ../shared/data/wsd/raganato2017/semeval2007/semeval2007.gold.key.txt \
        --max_instances 20000 --max_steps 1000 --output_dir runs/lexical
    python scripts/pretrain_lexical.py ... --teachers runs/quickstart/teachers/teacher-large/model --alpha 0.5
"""

from __future__ import annotations

import logging
import shlex
import sys
import time
from dataclasses import dataclass, field

from transformers import AutoTokenizer

from lexkd.lexical.glosses import candidate_groups
from lexkd.lexical.lmgc_m import (
    LexicalPretrainingArguments,
    held_out_mlm_set,
    lmgc_m_dataset,
    nsp_head,
    train_lexical,
)
from lexkd.mlm.job import load_split_corpus, resume_checkpoint
from lexkd.mlm.teachers import check_vocabularies, load_teachers
from lexkd.models.masked_lm import check_local_model, load_masked_lm
from lexkd.tasks.wsd.lmgc import sample_groups
from lexkd.tasks.wsd.raganato import default_key_file, read_raganato
from lexkd.utils.cli import CorpusArguments, parse_args, run_cli


@dataclass
class LexicalJobArguments:
    student: str = field(metadata={"help": "The student: a BertForPreTraining checkpoint (lexkd's students are)."})
    semcor: str = field(metadata={"help": "Sense-tagged training corpus .data.xml (SemCor in the Raganato format)."})
    semcor_gold: str | None = field(default=None, metadata={
        "help": "Its .gold.key.txt; default: X.gold.key.txt beside X.data.xml (the framework's naming)."})
    teachers: list[str] = field(
        default_factory=list,
        metadata={"help": "Teacher checkpoints for multi-teacher MLM targets on the pairs (needs --alpha > 0)."},
    )
    max_instances: int | None = field(
        default=None, metadata={"help": "Use at most this many target words (random, --seed); each gives one pair per candidate sense."}
    )
    max_pair_length: int = field(default=128, metadata={"help": "Tokens per context/gloss pair (the context is cut first)."})
    dev: str | None = field(default=None, metadata={"help": "WSD dev set .data.xml, scored with the next-sentence head before and after."})
    dev_gold: str | None = field(default=None, metadata={
        "help": "Its .gold.key.txt; default: X.gold.key.txt beside X.data.xml (needed with --dev)."})
    resume: bool = field(default=False, metadata={"help": "Continue from the last checkpoint in OUTPUT_DIR."})


DEFAULTS = {"output_dir": "runs/lexical", "max_steps": 1000, "per_device_train_batch_size": 32, "learning_rate": 1e-4,
            "warmup_steps": 50, "weight_decay": 0.01, "logging_steps": 10, "eval_strategy": "steps", "eval_steps": 200,
            "save_steps": 200, "save_total_limit": 2, "report_to": "none", "alpha": 0.0}


def main(argv=None) -> int:
    start = time.perf_counter()
    job, corpus_args, train_args = parse_args((LexicalJobArguments, CorpusArguments, LexicalPretrainingArguments), argv, DEFAULTS)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if job.teachers and train_args.alpha == 0:
        raise ValueError("--teachers given but --alpha is 0, so their targets would be unused: set --alpha (e.g. 0.5).")
    job.semcor_gold = job.semcor_gold or default_key_file(job.semcor)
    if job.semcor_gold is None:
        raise ValueError(f"No gold keys for --semcor {job.semcor}: give --semcor_gold (no .gold.key.txt beside it).")
    if job.dev:
        job.dev_gold = job.dev_gold or default_key_file(job.dev)
        if job.dev_gold is None:
            raise ValueError(f"No gold keys for --dev {job.dev}: give --dev_gold (no .gold.key.txt beside it).")
    if job.resume:
        resume_checkpoint(train_args.output_dir)  # fail before any work when there is nothing to resume
    for name in job.teachers:
        check_local_model(name, role=f"teacher {name!r}")

    model = load_masked_lm(job.student, role="student")
    nsp_head(model)  # a clear error before reading any data when the student has no next-sentence head
    tokenizer = AutoTokenizer.from_pretrained(corpus_args.tokenizer or job.student)
    teachers = load_teachers(job.teachers, device=train_args.device) if job.teachers else []
    check_vocabularies(tokenizer, {t.name: t.tokenizer for t in teachers}, {t.name: t.model for t in teachers})

    groups = candidate_groups(read_raganato(job.semcor, job.semcor_gold), training=True)
    pair_stats = groups.stats.as_dict()
    groups = sample_groups(groups, job.max_instances, seed=train_args.seed)
    pair_stats.update(used_instances=len(groups), used_pairs=sum(len(g) for g in groups))
    logging.info("Gloss/context pairs: %s", pair_stats)
    train = lmgc_m_dataset(groups, tokenizer, max_length=job.max_pair_length)
    _, held_out_docs = load_split_corpus(corpus_args.corpus, validation_fraction=corpus_args.validation_fraction,
                                         seed=corpus_args.split_seed, **corpus_args.corpus_kwargs())
    held_out = held_out_mlm_set(held_out_docs, tokenizer, max_seq_length=corpus_args.max_seq_length,
                                line_by_line=corpus_args.line_by_line, max_eval_sequences=corpus_args.max_eval_sequences,
                                mlm_probability=train_args.mlm_probability, eval_masking_seed=corpus_args.eval_masking_seed)
    dev = read_raganato(job.dev, job.dev_gold) if job.dev else None

    command = ("python scripts/pretrain_lexical.py " + shlex.join(sys.argv[1:] if argv is None else argv)).strip()
    results = train_lexical(model, tokenizer, train, held_out, train_args, teachers=teachers, resume=job.resume, dev=dev,
                            max_length=job.max_pair_length,
                            extra_config={"job": vars(job), "corpus": vars(corpus_args), "pairs": pair_stats, "command": command})
    before, after = results["mlm_before"], results["mlm_after"]
    print(f"Parameters: {results['parameters_before']:,} before, {results['parameters_after']:,} after (unchanged).")
    print(f"Held-out MLM loss: {before['loss']:.4f} before, {after['loss']:.4f} after "
          f"(accuracy {100 * before['accuracy']:.2f}% -> {100 * after['accuracy']:.2f}%).")
    if dev is not None:
        print(f"{dev.name} F1 with the next-sentence head: {results['wsd_dev_before'].get('F1')} before, "
              f"{results['wsd_dev_after'].get('F1')} after.")
    print(f"Wall time {time.perf_counter() - start:.0f} s. Report: {train_args.output_dir}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
