"""What hidden-state and attention KD need of a seq2seq model (``--method hr_kd``/``ar_kd`` of
:mod:`lexkd.seq2seq.trainer`): the shape of each stack, a training wrapper holding the hidden-state
projectors, and the eager attention implementation that returns attention maps."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from transformers import PreTrainedModel


@dataclass(frozen=True)
class StackShape:
    """One side (encoder or decoder) of a seq2seq model: its layers, width and attention heads."""

    layers: int
    hidden_size: int
    heads: int


def stack_shapes(model: PreTrainedModel) -> dict[str, StackShape]:
    """``{"encoder": StackShape, "decoder": StackShape}`` of an ``EncoderDecoderModel`` (from its two
    configs) or of a T5/BART-style model (one config with encoder and decoder fields).

    Raises:
        ValueError: a config without the fields (not an encoder-decoder), naming its type.
    """
    config = model.config
    if getattr(config, "encoder", None) is not None and getattr(config, "decoder", None) is not None:
        return {side: StackShape(part.num_hidden_layers, part.hidden_size, part.num_attention_heads)
                for side, part in (("encoder", config.encoder), ("decoder", config.decoder))}
    try:
        width = getattr(config, "d_model", None) or config.hidden_size
        encoder_layers = getattr(config, "encoder_layers", None) or config.num_layers
        decoder_layers = getattr(config, "decoder_layers", None) or getattr(config, "num_decoder_layers", None)
        encoder_heads = getattr(config, "encoder_attention_heads", None) or config.num_heads
        decoder_heads = getattr(config, "decoder_attention_heads", None) or encoder_heads
    except AttributeError:
        raise ValueError(f"{type(model).__name__} ({config.model_type}) has no encoder/decoder layer, width and "
                         "head counts in its config: hidden-state and attention KD need an encoder-decoder.") from None
    return {"encoder": StackShape(encoder_layers, width, encoder_heads),
            "decoder": StackShape(decoder_layers or encoder_layers, width, decoder_heads)}


class Seq2SeqWithProjectors(nn.Module):
    """Training wrapper of a seq2seq student for hidden-state KD (``--method hr_kd``).

    ``forward(**inputs)`` runs the student with ``output_hidden_states=True`` and returns
    ``(outputs, projected)``: the student's ``Seq2SeqLMOutput`` and ``{"encoder": [...], "decoder": [...]}``,
    each side's hidden states of its projector's layer map projected to the teacher's width
    (:meth:`lexkd.losses.hidden.HiddenStateProjector.project`, ``(batch_size, seq_len, teacher_hidden)``
    each). The projectors live here so that the optimizer and DistributedDataParallel see them;
    ``state_dict``/``load_state_dict`` are the student's, so checkpoints have its keys and the projectors
    are saved apart (:mod:`lexkd.utils.projector_files`).

    Args:
        model: the student (``EncoderDecoderModel``, T5, BART).
        hidden_projectors: ``{"encoder": HiddenStateProjector, "decoder": HiddenStateProjector}``.
    """

    def __init__(self, model: PreTrainedModel, hidden_projectors: nn.ModuleDict):
        super().__init__()
        self.model = model
        self.hidden_projectors = hidden_projectors

    @property
    def config(self):
        return self.model.config

    def forward(self, **inputs):
        outputs = self.model(**inputs, output_hidden_states=True)
        projected = {"encoder": self.hidden_projectors["encoder"].project(outputs.encoder_hidden_states),
                     "decoder": self.hidden_projectors["decoder"].project(outputs.decoder_hidden_states)}
        return outputs, projected

    def state_dict(self, *args, **kwargs):
        return self.model.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        return self.model.load_state_dict(state_dict, strict=strict, assign=assign)


def use_eager_attention(model: PreTrainedModel) -> None:
    """Switch ``model`` to the eager attention implementation, the one that returns attention maps.

    ``set_attn_implementation`` changes the model's configs, but an ``EncoderDecoderModel`` gives its halves
    new config objects (``config.encoder``/``config.decoder``) while their attention modules keep the ones
    they were built with: every submodule's config is switched too, so that ``output_attentions=True``
    really returns the maps (otherwise SDPA runs and the encoder's tuple is empty).
    """
    model.set_attn_implementation("eager")
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and getattr(config, "_attn_implementation", "eager") != "eager":
            config._attn_implementation = "eager"
