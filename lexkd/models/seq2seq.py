"""Sequence-to-sequence students and teachers: build, load, and generate distillation targets.

A lexkd NLG student is a *bert2bert* ``EncoderDecoderModel`` warm-started from lexkd's BERT
checkpoints (Rothe et al., 2020): the encoder and the decoder (with its LM head) come from the
checkpoint, only the decoder's cross-attention is new. Teachers are any
``AutoModelForSeq2SeqLM`` (bert2bert, T5, BART).

Sequence-level KD (Kim & Rush, 2016) trains the student on the teacher's beam (or sampled)
output instead of the gold target: :func:`generate_targets` turns ``generate()`` output into
``labels`` (``-100`` after the first EOS) plus a ``truncated`` flag per row, and
:func:`decoder_input_ids_from_labels` shifts them right with the model's own rule. Losses are
computed in lexkd from the logits; ``labels`` are never passed to ``forward`` (in transformers
5.x ``EncoderDecoderModel`` then warns on every call and ignores ``num_items_in_batch``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    EncoderDecoderModel,
    GenerationConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.models.auto.modeling_auto import (
    MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
    MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
)

from lexkd.data.tokenization import VocabularyMismatchError, check_vocabularies
from lexkd.models.masked_lm import check_local_model
from lexkd.utils.hub import hub_load_error, is_local_reference

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100


def _source(name: str) -> str | Path:
    return Path(name).expanduser() if is_local_reference(name) else name


def _load_config(name: str, role: str):
    """``AutoConfig`` of a checked local folder or hub id; hub failures become a clear OSError."""
    check_local_model(name, role=role)
    try:
        return AutoConfig.from_pretrained(_source(name))
    except OSError as error:
        raise hub_load_error(name, error, role=role) from None


def _drop_pooler(encoder: PreTrainedModel) -> None:
    # The pooler feeds no seq2seq output; left in, its parameters get no gradient, which makes
    # DistributedDataParallel fail unless find_unused_parameters is set.
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None


def load_seq2seq_tokenizer(
    name_or_path: str | os.PathLike, *, role: str = "tokenizer"
) -> PreTrainedTokenizerBase:
    """``AutoTokenizer`` from a local folder or a hub id.

    Raises:
        FileNotFoundError: a local path that does not exist.
        OSError: no tokenizer could be loaded (no tokenizer files, or the hub did not serve it).
    """
    name = str(name_or_path)
    if is_local_reference(name) and not Path(name).expanduser().is_dir():
        raise FileNotFoundError(f"The {role} path {name!r} does not exist.")
    try:
        return AutoTokenizer.from_pretrained(_source(name))
    except (OSError, ValueError) as error:
        raise OSError(
            f"Could not load the {role} {name!r} ({error.__class__.__name__}: "
            f"{str(error).splitlines()[0]}). Save the tokenizer beside the model "
            "(tokenizer.save_pretrained), or check the hub id and network."
        ) from None


def _first(*ids: int | None) -> int | None:
    return next((i for i in ids if i is not None), None)


def _special_ids(tokenizer: PreTrainedTokenizerBase) -> dict[str, int | None]:
    # BERT has [CLS]/[SEP] and no bos/eos; RoBERTa-style tokenizers have both (same tokens).
    return {
        "decoder_start_token_id": _first(tokenizer.cls_token_id, tokenizer.bos_token_id),
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": _first(tokenizer.sep_token_id, tokenizer.eos_token_id),
    }


def set_special_tokens(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    """Fill the special token ids ``generate()`` and the label shift need, where they are missing.

    Sets ``decoder_start_token_id`` (``[CLS]``, else bos), ``pad_token_id`` and ``eos_token_id``
    (``[SEP]``, else eos) on ``model.config`` and ``model.generation_config``, and
    ``model.config.vocab_size`` (the decoder's output size). Ids already set (T5, BART, a saved
    bert2bert) are kept. Both configs are needed: transformers builds ``generation_config`` from
    ``config`` once, in ``__init__``, so a later change to ``config`` does not reach ``generate()``.

    Raises:
        ValueError: an id is missing on the model and the tokenizer has no token for it.
    """
    config = model.config
    for key, value in _special_ids(tokenizer).items():
        if getattr(config, key, None) is None:
            if value is None:
                raise ValueError(
                    f"The model has no {key} and the tokenizer {type(tokenizer).__name__} has no "
                    "token for it: set it on model.config and model.generation_config."
                )
            setattr(config, key, value)
        if getattr(model.generation_config, key, None) is None:
            setattr(model.generation_config, key, getattr(config, key))
    if getattr(config, "vocab_size", None) is None:
        config.vocab_size = model.get_output_embeddings().weight.shape[0]


def _check_tokenizer_fits(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    for part in ("encoder", "decoder"):
        rows = getattr(model, part).get_input_embeddings().weight.shape[0]
        if rows < len(tokenizer):
            raise VocabularyMismatchError(
                f"The {part} has {rows} token embeddings but the tokenizer has {len(tokenizer)} "
                "tokens: use the tokenizer the checkpoint was trained with."
            )


def build_bert2bert(
    encoder_name_or_path: str | os.PathLike,
    decoder_name_or_path: str | os.PathLike | None = None,
    *,
    tokenizer: PreTrainedTokenizerBase | None = None,
    seed: int | None = 42,
) -> EncoderDecoderModel:
    """A bert2bert ``EncoderDecoderModel`` warm-started from BERT-style checkpoints.

    The encoder is the checkpoint's ``AutoModel`` without pooler; the decoder is its
    ``AutoModelForCausalLM`` (``BertLMHeadModel``) with ``is_decoder=True,
    add_cross_attention=True``, whose LM head is the checkpoint's MLM head (``cls.predictions.*``)
    tied to the decoder's word embeddings. Encoder and decoder embeddings are separate
    parameters. Only cross-attention (and ``enc_to_dec_proj`` when the two hidden sizes differ)
    is newly initialised; this is checked on the loading report.

    Args:
        encoder_name_or_path: a lexkd ``BertForPreTraining`` folder, or a hub id such as
            ``"bert-base-uncased"``.
        decoder_name_or_path: the decoder's checkpoint, default the encoder's. It needs an MLM head.
        tokenizer: gives the special ids (``decoder_start`` = ``[CLS]``, ``eos`` = ``[SEP]``,
            ``pad``); default: loaded from the encoder checkpoint.
        seed: seed for the new weights (cross-attention); the global torch RNG is restored
            afterwards either way. ``None`` draws them from the global RNG's current state.

    Returns:
        The model in eval mode (as ``from_pretrained`` leaves models; call ``train()`` to train),
        with the special ids on ``config`` and ``generation_config``.

    Raises:
        FileNotFoundError: a local path that does not exist or holds no ``config.json``.
        OSError: a hub id that cannot be loaded, or no tokenizer beside the encoder.
        ValueError: the decoder checkpoint lacks weights other than cross-attention (e.g. a
            plain ``BertModel`` with no MLM head), naming them; or its architecture has no
            decoder (causal-LM) form in transformers (e.g. MPNet), naming its ``model_type``.
        VocabularyMismatchError: the tokenizer has more tokens than an embedding matrix has rows.
    """
    encoder_name = str(encoder_name_or_path)
    decoder_name = str(decoder_name_or_path) if decoder_name_or_path is not None else encoder_name
    encoder_config = _load_config(encoder_name, "encoder checkpoint")
    decoder_config = _load_config(decoder_name, "decoder checkpoint")
    if decoder_config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ValueError(
            f"{decoder_name!r} cannot be a decoder: transformers has no causal-LM (decoder) form of its "
            f"architecture ({decoder_config.model_type!r}), so no bert2bert decoder can be warm-started from it. "
            "Use a BERT-style checkpoint with an MLM head as the decoder (e.g. an encoder given one by "
            "scripts/adapt_teacher.py), or pass a seq2seq teacher (--teacher)."
        )
    if tokenizer is None:
        tokenizer = load_seq2seq_tokenizer(encoder_name, role="tokenizer of the encoder checkpoint")
    encoder_config.is_decoder, encoder_config.add_cross_attention = False, False
    decoder_config.is_decoder, decoder_config.add_cross_attention = True, True

    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        encoder, encoder_info = AutoModel.from_pretrained(
            _source(encoder_name), config=encoder_config, output_loading_info=True
        )
        decoder, decoder_info = AutoModelForCausalLM.from_pretrained(
            _source(decoder_name), config=decoder_config, output_loading_info=True
        )
        _drop_pooler(encoder)
        # EncoderDecoderModel adds enc_to_dec_proj (random) when the hidden sizes differ.
        model = EncoderDecoderModel(encoder=encoder, decoder=decoder)

    encoder_keys = set(encoder.state_dict())
    missing = [f"encoder.{k}" for k in encoder_info["missing_keys"] if k in encoder_keys]
    missing += [f"decoder.{k}" for k in decoder_info["missing_keys"] if "crossattention" not in k]
    mismatched = [*encoder_info["mismatched_keys"], *decoder_info["mismatched_keys"]]
    if missing or mismatched:
        raise ValueError(
            f"Cannot warm-start bert2bert from {encoder_name!r} / {decoder_name!r}: besides "
            f"cross-attention, these weights are not in the checkpoints: {sorted(missing)}"
            + (f"; shape mismatches: {mismatched}" if mismatched else "")
            + ". The decoder needs a checkpoint with its MLM head (BertForPreTraining or "
            "BertForMaskedLM), not a plain BertModel."
        )
    _check_tokenizer_fits(model, tokenizer)
    set_special_tokens(model, tokenizer)
    # EncoderDecoderModel(...) is in train mode while its loaded parts are in eval mode: make it
    # one mode, the one from_pretrained gives.
    return model.eval()


def load_seq2seq(name_or_path: str | os.PathLike, *, role: str = "model") -> PreTrainedModel:
    """Load any ``AutoModelForSeq2SeqLM`` (saved bert2bert, T5, BART) from a folder or hub id.

    A saved bert2bert loads back as ``EncoderDecoderModel``; its encoder pooler, which
    ``EncoderDecoderModel`` re-creates and :func:`build_bert2bert` drops, is dropped again when
    the checkpoint has no weights for it.

    Returns:
        The model in eval mode, as ``from_pretrained`` returns it (call ``train()`` to train);
        its ``generation_config`` is the saved ``generation_config.json`` when there is one.

    Raises:
        FileNotFoundError: a local path that does not exist or holds no ``config.json``.
        OSError: a hub id that cannot be loaded (e.g. no network), with the reason.
        ValueError: the checkpoint is not an encoder-decoder model (e.g. a BERT checkpoint: build
            one with :func:`build_bert2bert`).
    """
    name = str(name_or_path)
    config = _load_config(name, role)
    if config.model_type not in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES:
        raise ValueError(
            f"The {role} {name!r} is a {config.model_type!r} model, not a sequence-to-sequence "
            "model (AutoModelForSeq2SeqLM). For a BERT checkpoint, warm-start one from it: in "
            "scripts/distill_seq2seq.py pass it as --teacher_init instead of --teacher (--student warm-starts "
            "BERT checkpoints itself); in Python, call lexkd.models.seq2seq.build_bert2bert."
        )
    model, info = AutoModelForSeq2SeqLM.from_pretrained(
        _source(name), config=config, output_loading_info=True
    )
    if isinstance(model, EncoderDecoderModel) and any(
        k.startswith("encoder.pooler.") for k in info["missing_keys"]
    ):
        _drop_pooler(model.encoder)
        logger.info("Dropped the encoder pooler of %r: not in the checkpoint, unused by seq2seq.", name)
    return model


_NEUTRAL_SAMPLING = {"temperature": 1.0, "top_p": 1.0, "top_k": 50, "typical_p": 1.0,
                     "epsilon_cutoff": 0.0, "eta_cutoff": 0.0}
_NEUTRAL_BEAM = {"length_penalty": 1.0, "early_stopping": False}


@dataclass
class GenerationSettings:
    """How targets are generated; :meth:`to_generation_config` makes the ``GenerationConfig``."""

    max_new_tokens: int = field(default=64, metadata={"help": "Most tokens generated per target (> 0)."})
    num_beams: int = field(default=1, metadata={"help": "Beam size (>= 1); 1 is greedy or sampling."})
    do_sample: bool = field(default=False, metadata={"help": "Sample instead of greedy/beam search."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass, in (0, 1]."})
    top_k: int = field(default=0, metadata={"help": "Sample among the k likeliest tokens (0 = off)."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature (> 0)."})
    num_return_sequences: int = field(
        default=1, metadata={"help": "Targets per input (>= 1; <= num_beams unless sampling)."}
    )
    length_penalty: float = field(
        default=1.0, metadata={"help": "Beam score exponent on length (beam search only)."}
    )
    seed: int | None = field(
        default=None, metadata={"help": "Sampling seed; the global RNG is left untouched."}
    )

    def __post_init__(self):
        def bad(name: str, valid: str):
            raise ValueError(f"GenerationSettings.{name} must be {valid}, got {getattr(self, name)!r}.")

        def is_int(value):
            return isinstance(value, int) and not isinstance(value, bool)

        if not is_int(self.max_new_tokens) or self.max_new_tokens <= 0:
            bad("max_new_tokens", "an int > 0")
        if not is_int(self.num_beams) or self.num_beams < 1:
            bad("num_beams", "an int >= 1")
        if not isinstance(self.do_sample, bool):
            bad("do_sample", "True or False")
        if not 0 < self.top_p <= 1:
            bad("top_p", "in (0, 1]")
        if not is_int(self.top_k) or self.top_k < 0:
            bad("top_k", "an int >= 0 (0 = off)")
        if not self.temperature > 0:
            bad("temperature", "> 0")
        if not is_int(self.num_return_sequences) or self.num_return_sequences < 1:
            bad("num_return_sequences", "an int >= 1")
        # transformers: greedy returns one sequence, beam search (with or without sampling) at
        # most num_beams.
        if (self.num_beams > 1 or not self.do_sample) and self.num_return_sequences > self.num_beams:
            bad("num_return_sequences", f"<= num_beams ({self.num_beams}) unless sampling with one beam")
        if self.seed is not None and not is_int(self.seed):
            bad("seed", "an int or None")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the settings, to record with results."""
        return dataclasses.asdict(self)

    def to_generation_config(self, model: PreTrainedModel) -> GenerationConfig:
        """A ``GenerationConfig`` for ``model``: these settings plus the model's special ids.

        ``max_new_tokens`` and (when sampling) ``top_k`` are explicit, so transformers' global
        defaults (``max_length=20``, ``top_k=50``) never apply. Sampling fields are set only when
        sampling and ``length_penalty`` only with beams, so transformers does not warn about
        unused flags; where the model's own ``generation_config`` sets one of them, the neutral
        value is set instead (generate() would otherwise inherit it and warn). Fields not named
        here (e.g. a hub model's ``forced_bos_token_id``) come from ``model.generation_config``.

        Raises:
            ValueError: the model has no decoder start, pad or eos id (see :func:`set_special_tokens`).
        """
        values: dict[str, Any] = {
            # Reuse the decoder's keys and values across steps: the same tokens, several times
            # faster than recomputing the prefix (a checkpoint saved from an MLM model may carry
            # use_cache=False, which generate() would otherwise inherit).
            "use_cache": True,
            "max_new_tokens": self.max_new_tokens,
            "num_beams": self.num_beams,
            "do_sample": self.do_sample,
            "num_return_sequences": self.num_return_sequences,
        }
        for key in ("bos_token_id", "decoder_start_token_id", "pad_token_id", "eos_token_id"):
            value = getattr(model.generation_config, key, None)
            values[key] = value if value is not None else getattr(model.config, key, None)
        if values["decoder_start_token_id"] is None:  # generate() falls back to bos too
            values["decoder_start_token_id"] = values["bos_token_id"]
        for key in ("decoder_start_token_id", "pad_token_id", "eos_token_id"):
            if values[key] is None:
                raise ValueError(
                    f"The model has no {key}: call lexkd.models.seq2seq.set_special_tokens(model, tokenizer)."
                )
        if self.do_sample:
            values.update(top_k=self.top_k, top_p=self.top_p, temperature=self.temperature)
        else:
            values.update({k: v for k, v in _NEUTRAL_SAMPLING.items()
                           if getattr(model.generation_config, k, None) is not None})
        if self.num_beams > 1:
            values["length_penalty"] = self.length_penalty
        else:
            values.update({k: v for k, v in _NEUTRAL_BEAM.items()
                           if getattr(model.generation_config, k, None) is not None})
        return GenerationConfig(**values)


def _rng_devices(device: torch.device) -> list[int]:
    # torch.manual_seed also seeds every CUDA device: fork them all when generating on CUDA.
    return list(range(torch.cuda.device_count())) if device.type == "cuda" else []


def generate_targets(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    settings: GenerationSettings,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate targets with an encoder-decoder model, as labels for sequence-level KD.

    Kim & Rush (2016) train the student on the teacher's generated sequence; these are those
    targets, in lexkd's label format. Runs under ``torch.no_grad()`` with the model in eval
    mode; every module's previous train/eval mode is restored afterwards. With
    ``settings.seed``, sampling is reproducible and the global RNG is left as it was.

    ``generate()`` output rows are ``[decoder_start] y_1 ... y_n`` (the start token is always
    the first column for encoder-decoder models, T5 and BART included), padded after EOS. The
    start token is dropped; ``y`` is kept up to and including its first EOS, ``-100`` after it.

    Args:
        input_ids: ``(batch_size, src_len)`` encoder input ids.
        attention_mask: ``(batch_size, src_len)`` or None.
        settings: decoding settings.

    Returns:
        ``(labels, truncated)``: ``labels`` ``(batch_size * num_return_sequences, L)`` long,
        ``L <= max_new_tokens``, rows of one input consecutive (as ``generate()`` orders them),
        at least one label per row; ``truncated`` ``(batch_size * num_return_sequences,)`` bool,
        True where no EOS came within ``max_new_tokens`` (the row is then all labels), or, for
        models with a ``forced_eos_token_id`` (BART), where the first EOS is the last token
        allowed (forced there, so possibly cut; a natural EOS there is flagged too).

    Raises:
        ValueError: missing special ids (see :meth:`GenerationSettings.to_generation_config`).
        RuntimeError: the output does not start with the decoder start token (not an
            encoder-decoder model).
    """
    generation_config = settings.to_generation_config(model)
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=_rng_devices(input_ids.device)):
            if settings.seed is not None:
                torch.manual_seed(settings.seed)
            sequences = model.generate(
                input_ids=input_ids, attention_mask=attention_mask, generation_config=generation_config
            )  # (B * R, 1 + L)
    finally:
        for module, training in modes.items():
            module.training = training
    start = generation_config.decoder_start_token_id
    if sequences.shape[1] < 2 or not (sequences[:, 0] == start).all():
        raise RuntimeError(
            f"generate() output does not start with the decoder start token {start} followed by "
            f"at least one token (shape {tuple(sequences.shape)}): is this an encoder-decoder model?"
        )
    generated = sequences[:, 1:]  # (B * R, L)
    eos = torch.as_tensor(generation_config.eos_token_id, device=generated.device).reshape(-1)
    is_eos = torch.isin(generated, eos)  # (B * R, L)
    after_eos = (is_eos.long().cumsum(dim=1) - is_eos.long()) > 0  # strictly after the first EOS
    labels = generated.masked_fill(after_eos, IGNORE_INDEX).long()
    truncated = ~is_eos.any(dim=1)
    # BART-style models force EOS as the last allowed token: an EOS there means "cut", not "done".
    forced_eos = _first(generation_config.forced_eos_token_id,
                        getattr(model.generation_config, "forced_eos_token_id", None))
    if forced_eos is not None and generated.shape[1] == settings.max_new_tokens:
        truncated |= is_eos.any(dim=1) & (is_eos.long().argmax(dim=1) == settings.max_new_tokens - 1)
    return labels, truncated


def decoder_input_ids_from_labels(model: PreTrainedModel, labels: torch.Tensor) -> torch.Tensor:
    """Decoder inputs for teacher forcing: ``labels`` shifted right by the model's own rule.

    ``[start] y_1 .. y_{n-1}``, ``-100`` replaced by pad; the same shape ``(batch_size, L)`` as
    ``labels``. Uses ``model.prepare_decoder_input_ids_from_labels`` (EncoderDecoderModel, T5,
    BART), so no model's shift is hard-coded.

    Raises:
        TypeError: the model has no ``prepare_decoder_input_ids_from_labels`` (not seq2seq).
        ValueError: from transformers, when the start or pad id is unset.
    """
    prepare = getattr(model, "prepare_decoder_input_ids_from_labels", None)
    if prepare is None:
        raise TypeError(
            f"{type(model).__name__} has no prepare_decoder_input_ids_from_labels: decoder inputs "
            "can only be made for encoder-decoder models (EncoderDecoderModel, T5, BART, ...)."
        )
    return prepare(labels=labels)


def check_same_tokenizer(
    student_tokenizer: PreTrainedTokenizerBase,
    teacher_tokenizer: PreTrainedTokenizerBase,
    *,
    teacher_name: str,
) -> None:
    """Check a seq2seq teacher shares the student's vocabulary (its targets become student labels).

    Raises:
        VocabularyMismatchError: naming the teacher, both sizes and the first differing token.
    """
    check_vocabularies(student_tokenizer, {teacher_name: teacher_tokenizer})

