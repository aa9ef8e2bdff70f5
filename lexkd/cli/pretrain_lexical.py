"""LMGC-M lexical pretraining: teach a BertForPreTraining student WordNet senses without new parameters.

On the gloss/context pairs of a sense-tagged corpus (SemCor in the Raganato format, made by
``scripts/prepare_semcor.py``), the student is trained with

    loss = MLM loss on the pair's tokens (or the multi-teacher MLM loss, with --teachers and --alpha)
           + nsp_weight * CE(gloss match) through its existing next-sentence head

and its parameter count is checked unchanged. Its held-out MLM loss is measured before and after
on the MLM job's held-out split (the same corpus flags and --mlm_probability as
``pretrain_multiteacher.py`` give the same documents and fixed masks, from the same builder), and,
with --dev, its WSD scores through the next-sentence head. Writes OUTPUT_DIR/{run_config.json,
metrics.jsonl, checkpoint-*, model/, lexical_results.json, report.md} (and, with --dev, the dev
answers before and after as wsd_dev_{before,after}.key.txt). The logic is :mod:`lexkd.lexical.job`'s.

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

from lexkd.data.arguments import CorpusArguments
from lexkd.lexical.job import LexicalJobArguments, load_models, prepare_data, resolve_job
from lexkd.lexical.lmgc_m import LexicalPretrainingArguments, train_lexical
from lexkd.tasks.wsd.systems import WSDEvaluator
from lexkd.utils.cli import parse_args, run_cli

DEFAULTS = {"output_dir": "runs/lexical", "max_steps": 1000, "per_device_train_batch_size": 32, "learning_rate": 1e-4,
            "warmup_steps": 50, "weight_decay": 0.01, "logging_steps": 10, "eval_strategy": "steps", "eval_steps": 200,
            "save_steps": 200, "save_total_limit": 2, "report_to": "none", "alpha": 0.0}


def main(argv=None) -> int:
    start = time.perf_counter()
    job, corpus_args, train_args = parse_args((LexicalJobArguments, CorpusArguments, LexicalPretrainingArguments), argv, DEFAULTS)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    job = resolve_job(job, train_args)  # every flag checked (and gold keys found) before any work
    model, tokenizer, teachers = load_models(job, corpus_args, train_args)
    data = prepare_data(job, corpus_args, train_args, tokenizer)
    dev = WSDEvaluator(data.dev, tokenizer, scorer="nsp", max_length=job.max_pair_length) if data.dev else None

    command = ("python scripts/pretrain_lexical.py " + shlex.join(sys.argv[1:] if argv is None else argv)).strip()
    results = train_lexical(model, tokenizer, data.train, data.held_out, train_args, teachers=teachers, resume=job.resume,
                            dev_evaluator=dev, max_length=job.max_pair_length,
                            extra_config={"job": vars(job), "corpus": vars(corpus_args), "pairs": data.pair_stats,
                                          "command": command})
    before, after = results["mlm_before"], results["mlm_after"]
    print(f"Parameters: {results['parameters_before']:,} before, {results['parameters_after']:,} after (unchanged).")
    print(f"Held-out MLM loss: {before['loss']:.4f} before, {after['loss']:.4f} after "
          f"(accuracy {100 * before['accuracy']:.2f}% -> {100 * after['accuracy']:.2f}%).")
    if dev is not None:
        print(f"{data.dev.name} F1 with the next-sentence head: {results['wsd_dev_before'].get('F1')} before, "
              f"{results['wsd_dev_after'].get('F1')} after.")
    print(f"Wall time {time.perf_counter() - start:.0f} s. Report: {train_args.output_dir}/report.md")
    return 0



def cli() -> None:
    """Console entry point (``pip install`` puts it on the PATH; see ``[project.scripts]``)."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
