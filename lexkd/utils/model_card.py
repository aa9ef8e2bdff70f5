"""Model cards: the ``README.md`` of every model folder lexkd saves, as ``Trainer.create_model_card``
writes for its users (YAML front matter the Hugging Face hub reads, then what the model is, how it was
trained and what it scored)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lexkd.utils.reporting import markdown_table

__all__ = ["model_card"]


def _yaml_scalar(value: object) -> str:
    text = str(value)
    return text if text.replace("-", "").replace("_", "").replace(".", "").isalnum() else f'"{text}"'


def model_card(
    name: str,
    *,
    summary: str,
    base_model: str | None = None,
    teachers: Sequence[str] = (),
    training: Mapping[str, object] | None = None,
    results: Mapping[str, object] | None = None,
    result_notes: str = "",
    tags: Sequence[str] = (),
    pipeline_tag: str | None = None,
    usage: str = "Load with `AutoModelForMaskedLM.from_pretrained` and `AutoTokenizer.from_pretrained` on this folder.",
) -> str:
    """The Markdown model card of a saved model.

    Args:
        name: the model's name (its folder's label).
        summary: one or two sentences on what the model is.
        base_model: what the model started from (a checkpoint path or hub id, or e.g. "random
            initialisation from a BertConfig (2 x 128)").
        teachers: the teachers it was distilled from (empty: trained on gold labels only).
        training: settings shown as a table (e.g. weighting rule, alpha, temperature, steps, corpus).
        results: held-out figures shown as a table (e.g. MLM loss, perplexity, accuracy).
        result_notes: what the figures are (units, data, masks).
        tags: hub tags (``lexkd`` and ``knowledge-distillation`` are always added).
        pipeline_tag: the hub's pipeline tag (``fill-mask``, ``text2text-generation``, ...).
        usage: how to load the folder (one Markdown sentence).

    Returns:
        The card's text, ending with a newline.
    """
    all_tags = ["lexkd", "knowledge-distillation", *[t for t in tags if t not in ("lexkd", "knowledge-distillation")]]
    front = ["---", "library_name: transformers", "tags:", *[f"- {_yaml_scalar(t)}" for t in all_tags]]
    if pipeline_tag:
        front.append(f"pipeline_tag: {pipeline_tag}")
    if base_model and "/" in base_model and not base_model.startswith((".", "/")) and " " not in base_model:
        front.append(f"base_model: {_yaml_scalar(base_model)}")  # only a hub id is meaningful to the hub
    front.append("---")
    lines = [*front, "", f"# {name}", "", summary, ""]
    if base_model:
        lines += [f"**Started from:** {base_model}", ""]
    if teachers:
        lines += ["**Teachers:** " + ", ".join(f"`{t}`" for t in teachers), ""]
    else:
        lines += ["**Teachers:** none (trained on gold labels only)", ""]
    if training:
        lines += ["## Training", "", markdown_table([{"setting": k, "value": v} for k, v in training.items()],
                                                    ["setting", "value"]), ""]
    if results:
        lines += ["## Results", "", markdown_table([dict(results)], list(results)), ""]
        if result_notes:
            lines += [result_notes, ""]
    lines += ["## Usage", "", usage, "", "Made with lexkd (knowledge distillation from several teachers and WordNet).", ""]
    return "\n".join(lines)
