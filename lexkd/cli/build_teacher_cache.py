"""Run the teachers once over a corpus and store their combined top-k targets for distillation.

The cache fixes the masks (``--num_maskings`` per sequence) and keeps, for each masked position,
the ``--top_k`` most probable tokens of the confidence-weighted target q with their
probabilities, the mass outside them, and the teachers' weights. Train from it with
``scripts/pretrain_multiteacher.py --teacher_cache DIR`` and the same corpus flags and
distillation settings; no teacher then runs during training. Sharded, written atomically,
resumable (run the same command again), memory-mapped when read. With ``accelerate launch``
each process builds its own shards.

Examples:
    python scripts/build_teacher_cache.py --output_dir runs/cache \
        --teachers runs/quickstart/teachers/teacher-large/model runs/quickstart/teachers/teacher-small/model
    accelerate launch scripts/build_teacher_cache.py --output_dir runs/cache --teachers t1 t2 --corpus my.txt --top_k 64
"""

from __future__ import annotations

import json
import logging
import sys

from transformers import AutoTokenizer

from lexkd.data.arguments import CorpusArguments
from lexkd.data.corpora import flatten, load_split_corpus
from lexkd.data.tokenization import tokenize_texts
from lexkd.mlm.arguments import TeacherCacheArguments
from lexkd.mlm.cache import build_teacher_cache
from lexkd.mlm.teachers import corpus_sample, load_teachers, match_vocabularies
from lexkd.models.masked_lm import check_local_model
from lexkd.utils.cli import parse_args, run_cli


def main(argv=None) -> int:
    cache_args, corpus_args = parse_args((TeacherCacheArguments, CorpusArguments), argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not cache_args.teachers:
        raise ValueError("No teacher given: pass --teachers PATH [PATH ...].")
    for name in cache_args.teachers:  # fail before reading the corpus
        check_local_model(name, role=f"teacher {name!r}")
    tokenizer = AutoTokenizer.from_pretrained(corpus_args.tokenizer or cache_args.teachers[0])
    teachers = load_teachers(cache_args.teachers, dtype=cache_args.teacher_dtype)
    # The same training split and sequences as scripts/pretrain_multiteacher.py with these corpus flags.
    train_docs, _ = load_split_corpus(corpus_args.corpus, validation_fraction=corpus_args.validation_fraction,
                                      seed=corpus_args.split_seed, **corpus_args.corpus_kwargs())
    match_vocabularies(tokenizer, teachers, corpus_sample(flatten(train_docs)))
    train = tokenize_texts(flatten(train_docs), tokenizer, max_seq_length=corpus_args.max_seq_length,
                           line_by_line=corpus_args.line_by_line)
    meta = build_teacher_cache(
        teachers, tokenizer, train, cache_args.output_dir, rule=cache_args.weighting,
        temperature=cache_args.temperature, weight_temperature=cache_args.weight_temperature,
        mlm_probability=cache_args.mlm_probability, num_maskings=cache_args.num_maskings, top_k=cache_args.top_k,
        masking_seed=cache_args.masking_seed, batch_size=cache_args.batch_size, shard_size=cache_args.shard_size,
        overwrite=cache_args.overwrite, allow_unpinned_teacher=cache_args.allow_unpinned_teacher,
    )
    print(json.dumps({"cache": cache_args.output_dir, **meta["totals"], "build_time_s": meta["build_time_s"]}, indent=2))
    return 0



def cli() -> None:
    """Console entry point (``pip install`` puts it on the PATH; see ``[project.scripts]``)."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
