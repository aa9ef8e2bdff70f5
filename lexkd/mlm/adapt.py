"""Giving a pretrained encoder a masked-LM head, so that it can serve as a teacher.

Sentence-embedding encoders (all-MiniLM-L6-v2, all-mpnet-base-v2) ship without their MLM head, and
their top layers were tuned away from token prediction. :func:`adapt_teacher` trains, on a corpus,
with gold tokens only (plain MLM):

- ``"head"``: the MLM head alone, on the frozen encoder;
- ``"top"``: the head and the top ``top_layers`` encoder layers;
- ``"all"``: the whole model.

With ``keep_layers=K`` the encoder is first cut to its bottom ``K`` layers (the top layers, tuned furthest
away from token prediction, are dropped), and the mode applies to what remains.

It reports held-out masked-token loss and accuracy before and after (the same fixed masks), and saves
a complete masked-LM checkpoint (model, tokenizer, model card recording what was adapted) in
``args.output_dir/model``, which :func:`lexkd.mlm.teachers.load_teachers` accepts.
"""

from __future__ import annotations

from pathlib import Path

from transformers import AutoModelForMaskedLM, PreTrainedModel, PreTrainedTokenizerBase, set_seed

from lexkd.mlm.data import MLMData
from lexkd.mlm.evaluation import evaluate_model
from lexkd.mlm.trainer import DistillationArguments
from lexkd.mlm.training import train_masked_lm
from lexkd.models.masked_lm import count_parameters
from lexkd.utils.cli import args_with
from lexkd.utils.io import write_json_atomically

__all__ = ["ADAPT_MODES", "adapt_teacher", "freeze_for_adaptation", "keep_bottom_layers"]

ADAPT_MODES = ("head", "top", "all")


def _encoder_layers(model: PreTrainedModel):
    encoder = getattr(model.base_model, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if layers is None:
        raise ValueError(f"Cannot find the encoder layers of a {model.config.model_type!r} model "
                         "(expected base_model.encoder.layer, as BERT and MPNet have).")
    return layers


def keep_bottom_layers(model: PreTrainedModel, keep_layers: int) -> PreTrainedModel:
    """Cut ``model``'s encoder to its bottom ``keep_layers`` layers in place (config updated); return it.

    Raises:
        ValueError: ``keep_layers`` outside ``[1, num_layers]``.
    """
    layers = _encoder_layers(model)
    if not 1 <= keep_layers <= len(layers):
        raise ValueError(f"--keep_layers must be in [1, {len(layers)}] (the encoder's layers), got {keep_layers}.")
    model.base_model.encoder.layer = layers[:keep_layers]
    model.config.num_hidden_layers = keep_layers
    return model


def freeze_for_adaptation(model: PreTrainedModel, mode: str, top_layers: int = 2) -> int:
    """Freeze what ``mode`` keeps fixed; return the number of trainable parameters.

    Raises:
        ValueError: an unknown mode, or ``top_layers`` outside ``[1, num_layers]`` for ``"top"``.
    """
    if mode not in ADAPT_MODES:
        raise ValueError(f"Unknown adaptation mode {mode!r}; valid: {', '.join(ADAPT_MODES)}.")
    model.requires_grad_(True)
    if mode != "all":
        model.base_model.requires_grad_(False)
        if mode == "top":
            layers = _encoder_layers(model)
            if not 1 <= top_layers <= len(layers):
                raise ValueError(f"--top_layers must be in [1, {len(layers)}] (the encoder's layers), got {top_layers}.")
            for layer in layers[len(layers) - top_layers:]:
                layer.requires_grad_(True)
        # the output layer may be tied to the (frozen) input embeddings: keep it so, train the rest of the head
        model.get_output_embeddings().weight.requires_grad_(mode == "all")
    return sum(p.numel() for p in {id(p): p for p in model.parameters() if p.requires_grad}.values())


def adapt_teacher(
    encoder: str | Path,
    tokenizer: PreTrainedTokenizerBase,
    data: MLMData,
    args: DistillationArguments,
    *,
    mode: str = "head",
    top_layers: int = 2,
    keep_layers: int | None = None,
    extra_config: dict | None = None,
) -> dict:
    """Fit a masked-LM head (and optionally top layers) on ``encoder``; see the module docstring.

    Args:
        encoder: a folder or hub id of an encoder (with or without its MLM head).
        tokenizer: the encoder's tokenizer (``data`` must be tokenised with it).
        data: :func:`lexkd.mlm.data.prepare_mlm_data`'s output (training sequences, fixed held-out masks).
        args: training settings (``alpha`` is forced to 0: gold tokens only).
        mode, top_layers: what trains (module docstring).
        keep_layers: cut the encoder to its bottom layers first (None: keep all).

    Returns:
        ``{"before": ..., "after": ..., "mode", "top_layers", "keep_layers", "trainable_parameters",
        "parameters", "train_cpu_seconds", "train_wall_seconds", "train_steps", "train_tokens"}``: the held-out scores of
        :class:`lexkd.mlm.evaluation.MaskedLMEvaluator` before and after, and the cost of training (CPU
        seconds of this process in training, all threads, evaluations excluded; wall seconds with them;
        tokens = steps x batch x sequence length). Also written to
        ``args.output_dir/adaptation.json``.

    Raises:
        ValueError: an unknown mode, or ``top_layers``/``keep_layers`` out of range.
    """
    set_seed(args.seed)  # the new head's initialisation, hence "before", is reproducible
    model = AutoModelForMaskedLM.from_pretrained(encoder)
    if keep_layers is not None:
        keep_bottom_layers(model, keep_layers)
    trainable = freeze_for_adaptation(model, mode, top_layers)
    before = evaluate_model(model, data.validation, tokenizer, desc="Held-out, before adaptation")
    adaptation = {"encoder": str(encoder), "mode": mode, "top_layers": top_layers if mode == "top" else None,
                  "keep_layers": keep_layers, "trainable_parameters": trainable, "parameters": count_parameters(model)}
    what = f"mode {mode}" + (f", top {top_layers} layers" if mode == "top" else "")
    if keep_layers is not None:
        what = f"bottom {keep_layers} layers kept, " + what
    after = train_masked_lm(model, tokenizer, data, args_with(args, alpha=0.0, hidden_loss_weight=0.0), extra_config={
        "base_model": f"{encoder} (MLM head fitted: {what})", "adaptation": adaptation, **(extra_config or {})})
    cost = {"train_cpu_seconds": after["train_cpu_s"], "train_wall_seconds": after["train_runtime_s"],
            "train_steps": args.max_steps, "train_tokens": args.max_steps * args.per_device_train_batch_size * args.gradient_accumulation_steps
            * args.world_size * len(data.train[0]["input_ids"])}
    model.requires_grad_(True)
    results = {"before": before, "after": after, **adaptation, **cost}
    if args.should_save:
        write_json_atomically(results, Path(args.output_dir) / "adaptation.json")
    return results
