"""The hidden-state projectors of a checkpoint: saved beside the student, restored on resume, checked.

The learned projections of hidden-state distillation (:class:`lexkd.losses.hidden.HiddenStateProjector`)
are trained with the student but are not part of it: checkpoints hold them in
:data:`HIDDEN_PROJECTORS_NAME`, with metadata naming what they were made for (teachers, layer maps), and
the final ``model/`` folder does not. Shared by the MLM and seq2seq trainers.
"""

from __future__ import annotations

import os

from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

HIDDEN_PROJECTORS_NAME = "hidden_projectors.safetensors"
"""The file of a checkpoint folder holding the hidden-state projectors (absent from the final ``model/``)."""


def save_projectors(projectors: nn.Module, output_dir: str | os.PathLike, metadata: dict[str, str]) -> None:
    """Write ``projectors``' weights (CPU, contiguous) and ``metadata`` to ``output_dir/HIDDEN_PROJECTORS_NAME``."""
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in projectors.state_dict().items()}
    save_file(state, os.path.join(output_dir, HIDDEN_PROJECTORS_NAME), metadata=metadata)


def load_projectors(projectors: nn.Module, checkpoint: str | os.PathLike, wanted: dict[str, str], *, fix: str) -> None:
    """Copy a checkpoint's projectors into ``projectors`` in place (the optimizer holds these parameters).

    Args:
        wanted: the metadata this run's projectors have; the checkpoint's must be equal.
        fix: what the errors tell the user to do (e.g. "resume with the --hidden_loss_weight it ran with").

    Raises:
        FileNotFoundError: the checkpoint has no projector file (saved without the hidden-state term).
        ValueError: projectors made for other teachers, layer maps or models (both sides named).
    """
    path = os.path.join(checkpoint, HIDDEN_PROJECTORS_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"The checkpoint {str(checkpoint)!r} has no {HIDDEN_PROJECTORS_NAME}: it was saved "
                                f"without the hidden-state term; {fix}.")
    with safe_open(path, framework="pt") as file:
        saved = file.metadata() or {}
    if {key: saved.get(key) for key in wanted} != wanted:
        def show(values):
            return ", ".join(f"{key.replace('_', ' ')} {values.get(key)}" for key in wanted)

        raise ValueError(f"The checkpoint {str(checkpoint)!r} holds hidden-state projectors for {show(saved)}; this "
                         f"run has {show(wanted)}: {fix}.")
    projectors.load_state_dict(load_file(path), strict=True)
