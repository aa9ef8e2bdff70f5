"""Masked language models for lexkd: build students, load checkpoints, and compute the output
layer only where it is needed (at masked positions).

With a 30k vocabulary and a small model, the output layer (hidden -> vocabulary projection at
every token) is most of an MLM step's cost. Only masked positions carry a loss, so lexkd runs
the encoder on the whole sequence and the MLM head on the ``N`` masked positions only:
``(batch, seq, hidden) -> (N, hidden) -> (N, vocab)``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForMaskedLM,
    AutoModelForPreTraining,
    BertConfig,
    BertForPreTraining,
    PreTrainedModel,
)

from lexkd.utils.hub import hub_load_error, is_local_reference

logger = logging.getLogger(__name__)


def _bert_head(model, hidden):
    # BertForMaskedLM.cls (BertOnlyMLMHead) and BertForPreTraining.cls (BertPreTrainingHeads) both
    # hold the MLM head as .predictions.
    return model.cls.predictions(hidden)


def _roberta_head(model, hidden):
    return model.lm_head(hidden)


def _distilbert_head(model, hidden):
    hidden = model.activation(model.vocab_transform(hidden))
    return model.vocab_projector(model.vocab_layer_norm(hidden))


def _electra_head(model, hidden):
    return model.generator_lm_head(model.generator_predictions(hidden))


# model_type -> function(model, hidden (N, H)) -> logits (N, V); types not listed fall back to the
# full head followed by a gather, with a warning (same result, full cost).
MASKED_HEADS = {
    "bert": _bert_head,
    "roberta": _roberta_head,
    "xlm-roberta": _roberta_head,
    "camembert": _roberta_head,
    "distilbert": _distilbert_head,
    "electra": _electra_head,
    "mpnet": _roberta_head,  # MPNetForMaskedLM.lm_head: dense, GELU, layer norm, decoder (as RoBERTa's)
}
_warned_types: set[str] = set()


def masked_lm_logits(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    masked: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    token_type_ids: torch.Tensor | None = None,
    *,
    vocabulary_map=None,
    output_hidden_states: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Logits of a masked LM at the positions ``masked`` selects, computing its output layer there only.

    Args:
        model: an ``AutoModelForMaskedLM`` instance (BERT, RoBERTa, XLM-R, CamemBERT, DistilBERT,
            ELECTRA and MPNet heads are applied at masked positions only; other types run their full
            head and gather, logged once as a warning).
        input_ids: ``(batch_size, seq_len)`` token ids.
        masked: ``(batch_size, seq_len)`` bool, True at the positions to predict.
        attention_mask, token_type_ids: ``(batch_size, seq_len)`` or None.
        vocabulary_map: a :class:`lexkd.data.vocabulary_map.VocabularyMap` when ``model`` numbers the
            tokens of ``input_ids`` differently: ids are translated on the way in and the logits come back
            over the ids of ``input_ids``' vocabulary.
        output_hidden_states: also return the encoder's hidden states, from the same forward pass.

    Returns:
        ``(N, vocab_size)`` logits, ``N = masked.sum()``, in row-major order of ``masked``
        (the order of ``labels[masked]``); ``vocab_size`` is the vocabulary of ``input_ids``. With
        ``output_hidden_states``, ``(logits, hidden_states)``: the ``(batch_size, seq_len, hidden)``
        outputs of the embeddings (index 0) and of each layer (1 .. num_layers).
    """
    if vocabulary_map is not None:
        input_ids = vocabulary_map.teacher_ids(input_ids)  # (B, T) in the model's own ids
        result = masked_lm_logits(model, input_ids, masked, attention_mask, token_type_ids,
                                  output_hidden_states=output_hidden_states)  # (N, V_model) [, hidden states]
        if output_hidden_states:  # the hidden states do not depend on how the vocabulary is numbered
            return vocabulary_map.student_logits(result[0]), result[1]  # (N, V)
        return vocabulary_map.student_logits(result)  # (N, V)
    kwargs = {"attention_mask": attention_mask}
    if token_type_ids is not None and model.config.model_type not in ("roberta", "xlm-roberta", "camembert", "distilbert",
                                                                      "mpnet"):
        kwargs["token_type_ids"] = token_type_ids
    if output_hidden_states:
        kwargs["output_hidden_states"] = True
    head = MASKED_HEADS.get(model.config.model_type)
    if head is None:
        if model.config.model_type not in _warned_types:
            _warned_types.add(model.config.model_type)
            logger.warning(
                "No masked-position head for model type %r: computing the full output layer and "
                "gathering masked positions (correct, but slower).", model.config.model_type,
            )
        outputs = model(input_ids=input_ids, **kwargs)
        logits = outputs.logits[masked]  # (B, T, V) -> (N, V)
    else:
        outputs = model.base_model(input_ids=input_ids, **kwargs)
        logits = head(model, outputs.last_hidden_state[masked])  # (B, T, H) -> (N, H) -> (N, V)
    return (logits, outputs.hidden_states) if output_hidden_states else logits


class MaskedPositionMLM(nn.Module):
    """Training wrapper: a masked LM whose forward returns logits at masked positions only.

    ``forward(input_ids, attention_mask, token_type_ids, labels)`` returns
    ``{"logits": (N, vocab_size), "labels": (N,)}`` for the ``N`` positions whose label is not
    -100. Running the forward through this module (rather than calling the inner model's parts
    from the trainer) keeps it under DistributedDataParallel's wrapper with ``accelerate launch``.
    ``state_dict``/``load_state_dict`` are the inner model's, so checkpoints have its keys.

    With ``output_hidden_states=True`` the output also has ``"hidden_states"`` (the student's tuple,
    embeddings then every layer, ``(batch_size, seq_len, hidden)`` each, from the same pass) and, when
    :attr:`hidden_projectors` is not empty, ``"projected_hidden_states"``: for each projector, its
    ``project(hidden_states)`` (:meth:`lexkd.losses.hidden.HiddenStateProjector.project`).

    Attributes:
        hidden_projectors: trained modules of hidden-state distillation (one per teacher), set by
            :class:`lexkd.mlm.trainer.MultiTeacherDistillationTrainer`. They live here and run in
            :meth:`forward` so that the optimizer and DistributedDataParallel see them; they are not
            part of the student (``state_dict`` leaves them out; the trainer saves them apart).
    """

    def __init__(self, model: PreTrainedModel):
        super().__init__()
        self.model = model
        self.hidden_projectors = nn.ModuleList()

    @property
    def config(self):
        return self.model.config

    def forward(self, input_ids, labels, attention_mask=None, token_type_ids=None, output_hidden_states=False):
        masked = labels != -100  # (B, T)
        if not output_hidden_states:
            logits = masked_lm_logits(self.model, input_ids, masked, attention_mask, token_type_ids)
            return {"logits": logits, "labels": labels[masked]}
        logits, hidden_states = masked_lm_logits(self.model, input_ids, masked, attention_mask, token_type_ids,
                                                 output_hidden_states=True)
        outputs = {"logits": logits, "labels": labels[masked], "hidden_states": hidden_states}
        if len(self.hidden_projectors):
            outputs["projected_hidden_states"] = [projector.project(hidden_states) for projector in self.hidden_projectors]
        return outputs

    def state_dict(self, *args, **kwargs):
        return self.model.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        return self.model.load_state_dict(state_dict, strict=strict, assign=assign)


def build_student(
    vocab_size: int,
    *,
    num_hidden_layers: int = 2,
    hidden_size: int = 128,
    num_attention_heads: int = 2,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 512,
    pad_token_id: int = 0,
    seed: int = 42,
) -> BertForPreTraining:
    """A freshly initialised BERT-style model of the given size, with BERT's two pretraining heads.

    The shared student is a ``BertForPreTraining``: its MLM head serves multi-teacher MLM
    distillation, and its sentence-pair (next-sentence) head serves lexical pretraining
    (LMGC-M), which therefore adds no parameter. Saved checkpoints load with
    ``AutoModelForMaskedLM`` (the sentence-pair head is then dropped) or ``AutoModelForPreTraining``.

    Args:
        vocab_size: size of the (shared) vocabulary.
        num_hidden_layers, hidden_size, num_attention_heads: encoder size; ``hidden_size`` must
            be divisible by ``num_attention_heads``.
        intermediate_size: feed-forward width, default ``4 * hidden_size``.
        seed: initialisation seed (the global torch RNG is restored afterwards, so data order
            and masking do not depend on the model size).

    Raises:
        ValueError: a non-positive size, or hidden size not divisible by the head count.
    """
    for name, value in (("vocab_size", vocab_size), ("num_hidden_layers", num_hidden_layers),
                        ("hidden_size", hidden_size), ("num_attention_heads", num_attention_heads)):
        if value <= 0:
            raise ValueError(f"{name} must be > 0, got {value}.")
    if hidden_size % num_attention_heads:
        raise ValueError(
            f"hidden_size ({hidden_size}) must be divisible by num_attention_heads ({num_attention_heads})."
        )
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        intermediate_size=intermediate_size or 4 * hidden_size,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BertForPreTraining(config)


def student_from_layers(
    init_from: str | os.PathLike,
    layers: Sequence[int],
    *,
    hidden_size: int | None = None,
    seed: int = 42,
) -> BertForPreTraining:
    """A student initialised from chosen layers of a pretrained BERT-style encoder (DistilBERT's init).

    The student gets the source's embeddings, its encoder layers ``layers`` (in that order, as
    student layers 0, 1, ...) and, where the checkpoint has them, its masked-LM head; what the
    checkpoint lacks (a head of a sentence-embedding model, the next-sentence head) is freshly
    initialised with ``seed``.

    Args:
        init_from: a folder or hub id of a BERT-type checkpoint (``BertModel``, ``BertForMaskedLM``,
            ``BertForPreTraining``; e.g. all-MiniLM-L6-v2).
        layers: source layer indices, e.g. ``(0, 2, 4)``: distinct, each in ``[0, num_layers)``.
        hidden_size: the width asked for; must equal the source's (layers are copied, not projected).

    Raises:
        ValueError: no layers, a repeated or out-of-range index, a width other than the source's,
            or a source that is not BERT-type.
        FileNotFoundError, OSError: as :func:`load_masked_lm`.
    """
    name = str(init_from)
    check_local_model(name, role="--student_init_from")
    source_path = Path(name).expanduser() if is_local_reference(name) else name
    try:
        config = AutoConfig.from_pretrained(source_path)
    except OSError as error:
        raise hub_load_error(name, error, role="--student_init_from") from None
    if config.model_type != "bert":
        raise ValueError(f"--student_init_from {name!r} is a {config.model_type!r} model; copying layers needs a "
                         "BERT-type encoder (e.g. all-MiniLM-L6-v2, bert-base-uncased).")
    layers = list(layers)
    total = config.num_hidden_layers
    if not layers:
        raise ValueError("--student_init_layers is empty: give source layer indices, e.g. 0,2,4.")
    if len(set(layers)) != len(layers):
        raise ValueError(f"--student_init_layers {layers} repeats a layer: each source layer can be copied once.")
    outside = [i for i in layers if not 0 <= i < total]
    if outside:
        raise ValueError(f"--student_init_layers {outside} outside the {total} layers of {name!r} (valid: 0..{total - 1}).")
    if hidden_size is not None and hidden_size != config.hidden_size:
        raise ValueError(f"--student_hidden_size {hidden_size} differs from the width {config.hidden_size} of "
                         f"{name!r}: copied layers keep their width; drop --student_hidden_size or pick another source.")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        source = AutoModelForPreTraining.from_pretrained(source_path)  # missing heads: freshly initialised
        student_config = config.__class__.from_dict({**config.to_dict(), "num_hidden_layers": len(layers)})
        student = BertForPreTraining(student_config)
    student.bert.embeddings.load_state_dict(source.bert.embeddings.state_dict())
    for target, index in enumerate(layers):
        student.bert.encoder.layer[target].load_state_dict(source.bert.encoder.layer[index].state_dict())
    student.cls.load_state_dict(source.cls.state_dict())
    if source.bert.pooler is not None and student.bert.pooler is not None:
        student.bert.pooler.load_state_dict(source.bert.pooler.state_dict())
    student.config.lexkd_init = {"from": name, "layers": layers}
    return student


def check_local_model(name_or_path: str | os.PathLike, *, role: str = "model") -> None:
    """Raise ``FileNotFoundError`` when ``name_or_path`` looks local but is not a saved model folder.

    Hub ids (``name`` or ``org/name`` that do not exist locally) pass; they are checked on load.
    """
    name = str(name_or_path)
    if not is_local_reference(name):
        return
    path = Path(name).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"The {role} path {name!r} does not exist (expected a folder written by save_pretrained).")
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"The {role} folder {name!r} has no config.json: it is not a saved model.")


class MissingMLMHeadError(ValueError):
    """A checkpoint used as a teacher has no trained masked-LM head (transformers would initialise one at random)."""


def load_masked_lm(name_or_path: str | os.PathLike, *, role: str = "model", require_head: bool = False) -> PreTrainedModel:
    """Load any ``AutoModelForMaskedLM`` checkpoint from a local folder or a hub id.

    BERT checkpoints saved as ``BertForPreTraining`` (lexkd's students and teachers) load with
    both pretraining heads; everything else loads with ``AutoModelForMaskedLM``.

    Args:
        name_or_path: a folder written by ``save_pretrained`` or a hub id such as
            ``"bert-base-uncased"``.
        role: what the model is (``"teacher 'x'"``, ``"student"``), used in error messages.
        require_head: refuse a checkpoint whose masked-LM head is missing from its weights (an
            encoder saved without its head, e.g. a sentence-embedding model): transformers reports
            such weights as newly initialised, and a teacher with a random head distils noise.

    Raises:
        FileNotFoundError: a local path that does not exist or holds no ``config.json``.
        OSError: a hub id that cannot be loaded (e.g. no network), with the reason.
        MissingMLMHeadError: ``require_head`` and the head's weights are not in the checkpoint
            (the message names them and the fix).
    """
    name = str(name_or_path)
    check_local_model(name, role=role)
    source = Path(name).expanduser() if is_local_reference(name) else name
    try:
        config = AutoConfig.from_pretrained(source)
    except OSError as error:
        raise hub_load_error(name, error, role=role) from None
    # A BERT checkpoint saved with its pretraining heads (lexkd's students and teachers) keeps its
    # sentence-pair head; any other masked LM loads as AutoModelForMaskedLM.
    architectures = config.architectures or []
    auto = AutoModelForMaskedLM
    if config.model_type == "bert" and any(a.endswith("ForPreTraining") for a in architectures):
        auto = AutoModelForPreTraining
    model, info = auto.from_pretrained(source, output_loading_info=True)
    if require_head:
        missing = missing_head_weights(model, info.get("missing_keys", ()))
        if missing:
            shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
            who = role if name in role else f"{role} {name!r}"
            raise MissingMLMHeadError(
                f"The {who} has no masked-LM head: its checkpoint lacks {shown}, which transformers "
                "would initialise at random, so its predictions would be noise. Use a checkpoint saved with its "
                "masked-LM head (e.g. bert-base-uncased, or a teacher trained by scripts/train_teacher.py), or fit "
                "a head on this encoder first and pass that folder."
            )
    return model


def missing_head_weights(model: PreTrainedModel, missing_keys) -> list[str]:
    """The masked-LM head's weights among ``missing_keys`` (from ``from_pretrained(output_loading_info=True)``).

    Head weights are those outside the encoder (``model.base_model_prefix``), except the
    next-sentence head of a ``*ForPreTraining`` model, which a teacher does not use. Tied output
    weights (the decoder shares the input embeddings) are never reported missing by transformers.
    """
    prefix = f"{model.base_model_prefix}."
    return sorted(k for k in missing_keys if not k.startswith(prefix) and "seq_relationship" not in k)


def count_parameters(model: nn.Module, *, embeddings: bool = True) -> int:
    """Number of distinct parameters (tied weights counted once).

    With ``embeddings=False``, those of the embedding layers are left out (every parameter whose name
    has an ``embeddings`` component: word, position and segment embeddings and their LayerNorm, and an
    output layer tied to the word embeddings), the count papers give as "non-embedding parameters".
    """
    distinct = dict(model.named_parameters())  # tied weights appear once, under their first name
    if not embeddings:
        distinct = {name: p for name, p in distinct.items() if "embeddings" not in name.split(".")}
    return sum(p.numel() for p in distinct.values())
