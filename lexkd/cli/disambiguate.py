"""Rank the WordNet senses of a word in a sentence with an LMGC model.

The model is an LMGC classifier (``eval_wsd.py --train ...`` writes one to OUTPUT_DIR/model) or
a ``BertForPreTraining`` checkpoint after LMGC-M lexical pretraining, scored with its
next-sentence head (``--scorer nsp``, the default for such a checkpoint).

Examples:
    python scripts/disambiguate.py --model runs/lmgc/model --sentence "He sat on the bank of the river." \
        --target bank --pos NOUN
    python scripts/disambiguate.py --model runs/lexical/model --sentence "The banks raised rates." \
        --target banks --lemma bank --pos NOUN --json
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

from lexkd.tasks.wsd.lmgc import LMGCSystem, disambiguate
from lexkd.utils.cli import parse_args, run_cli


@dataclass
class DisambiguateArguments:
    model: str = field(metadata={"help": "LMGC classifier or BertForPreTraining checkpoint (folder or hub id)."})
    sentence: str = field(metadata={"help": "The sentence, plain text."})
    pos: str = field(metadata={"help": "Part of speech of the target: NOUN, VERB, ADJ or ADV."})
    target: str | None = field(default=None, metadata={"help": "The target word(s) as written in the sentence."})
    target_index: int | None = field(
        default=None, metadata={"help": "Instead of --target: the target's position among the sentence's words (from 0)."}
    )
    lemma: str | None = field(default=None, metadata={"help": "The target's lemma (e.g. bank for banks); default the word."})
    scorer: str = field(default="auto", metadata={"help": "auto, classifier (LMGC) or nsp (next-sentence head)."})
    max_length: int = field(default=128, metadata={"help": "Tokens per context/gloss pair."})
    top: int | None = field(default=None, metadata={"help": "Show only the best TOP senses."})
    json: bool = field(default=False, metadata={"help": "Print JSON instead of a table."})


def main(argv=None) -> int:
    (args,) = parse_args((DisambiguateArguments,), argv)
    if (args.target is None) == (args.target_index is None):
        raise ValueError("Give exactly one of --target WORD and --target_index N.")
    system = LMGCSystem.from_pretrained(args.model, scorer=args.scorer, max_length=args.max_length)
    ranked = disambiguate(system.model, system.tokenizer, args.sentence,
                          args.target if args.target is not None else args.target_index, args.pos,
                          lemma=args.lemma, scorer=system.scorer.name, max_length=args.max_length)
    ranked = ranked[: args.top] if args.top else ranked
    if args.json:
        print(json.dumps(ranked, indent=2))
        return 0
    print(f"{'rank':>4}  {'score':>6}  {'sense key':<28} {'synset':<28} gloss")
    for rank, sense in enumerate(ranked, 1):
        print(f"{rank:>4}  {sense['score']:6.3f}  {sense['sense_key']:<28} {sense['synset']:<28} {sense['gloss']}")
    return 0



def cli() -> None:
    """Console entry point (``pip install`` puts it on the PATH; see ``[project.scripts]``)."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
