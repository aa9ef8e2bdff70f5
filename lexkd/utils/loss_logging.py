"""Loss parts and training statistics logged the way ``transformers.Trainer`` logs ``loss``.

lexkd's trainers return from ``compute_loss`` a micro-batch's *share* of its optimizer update's
per-position mean: the sum over the micro-batch's counted positions divided by
``num_items_in_batch``, the positions counted over the update's whole accumulated batch (times
the number of processes when that count spans processes, since DDP averages gradients).
``Trainer`` adds these shares up and logs, every ``logging_steps`` updates,

    loss = mean over processes of (sum of the shares since the last log) / U

with ``U`` the optimizer updates since the last log: the mean over the logging window's updates
of each update's per-position mean (positions weighted equally within an update, updates
weighted equally within the window).

:class:`LossPartsLoggingMixin` logs each loss part (``kd_loss``, ``ce_loss``, ``mlm_loss``) with
exactly that formula, so a part that is the whole loss is logged equal to ``loss``, and a loss
that is a fixed linear mix of its parts is logged as the same mix of the logged parts.
"""

from __future__ import annotations

import torch
from transformers.trainer_pt_utils import nested_gather


class LossPartsLoggingMixin:
    """Mixin for a ``transformers.Trainer`` subclass: logs loss parts and statistics with ``loss``.

    Put it before ``Trainer`` in the bases (``class T(LossPartsLoggingMixin, Trainer)``). During
    training, ``compute_loss`` calls :meth:`record_loss_parts` and :meth:`record_means`; every log
    that carries ``loss`` then also carries:

    - each loss part, averaged as ``Trainer`` averages ``loss`` (module docstring): the mean over
      the window's optimizer updates of the update's per-position mean, over all processes;
    - each statistic, its mean over the window and the processes weighted by the given counts
      (e.g. the mean teacher weight over every masked position since the last log).

    Every process must record the same names in a window: the values are gathered at log time.
    """

    def _loss_window(self) -> dict:
        if not hasattr(self, "_lexkd_window"):
            self._lexkd_window = {"parts": {}, "sums": {}, "counts": {}, "first_step": None}
        return self._lexkd_window

    def _start_window(self) -> dict:
        window = self._loss_window()
        if window["first_step"] is None:
            # The update the window starts at: a resumed run starts at its checkpoint's step.
            window["first_step"] = self.state.global_step
        return window

    def process_factor(self, num_items_in_batch) -> int:
        """What a loss divided by ``num_items_in_batch`` is multiplied by so DDP's gradient
        average gives sum(all processes' losses) / num_items: the number of processes when the
        count spans them (``average_tokens_across_devices``), else 1."""
        if num_items_in_batch is not None and self.args.average_tokens_across_devices:
            return self.accelerator.num_processes
        return 1

    def record_loss_parts(self, parts: dict[str, torch.Tensor], num_items_in_batch) -> None:
        """Add one micro-batch's loss parts to the logging window.

        Args:
            parts: scalar tensors, each the micro-batch's sum of the part over its counted positions
                divided by ``num_items_in_batch``, as the loss is (the factor of
                :meth:`process_factor` is applied here).
            num_items_in_batch: the count the parts were divided by (as passed to ``compute_loss``).
        """
        window = self._start_window()
        factor = self.process_factor(num_items_in_batch)
        for name, value in parts.items():
            value = value.detach().float() * factor
            window["parts"][name] = window["parts"][name] + value if name in window["parts"] else value

    def record_means(self, values: dict[str, torch.Tensor | float], count: int | float = 1) -> None:
        """Add statistics of one micro-batch, each a mean over ``count`` items (positions, samples)."""
        window = self._start_window()
        for name, value in values.items():
            # An empty micro-batch (count 0, mean NaN) adds nothing.
            value = torch.nan_to_num(torch.as_tensor(value, dtype=torch.float32, device=self.args.device).detach()) * count
            window["sums"][name] = window["sums"][name] + value if name in window["sums"] else value
            window["counts"][name] = window["counts"].get(name, 0) + count

    def window_averages(self) -> dict[str, float]:
        """The window's loss parts and statistics (see the class docstring), and a new window."""
        window = self._loss_window()
        parts, sums = sorted(window["parts"]), sorted(window["sums"])
        if not parts and not sums:
            return {}
        updates = max(self.state.global_step - window["first_step"], 1)
        device = self.args.device
        local = torch.stack([window["parts"][n].to(device) / updates for n in parts]
                            + [window["sums"][n].to(device) for n in sums]
                            + [torch.tensor(float(window["counts"][n]), device=device) for n in sums])
        gathered = nested_gather(local, self.args.parallel_mode).reshape(-1, local.numel())  # (processes, values)
        del self._lexkd_window
        part_values = gathered[:, :len(parts)].mean(0)  # as Trainer: the mean over processes
        totals = gathered[:, len(parts):].sum(0)  # statistics: sums and counts over processes
        stat_values = totals[:len(sums)] / totals[len(sums):].clamp(min=1e-12)
        return dict(zip(parts + sums, part_values.tolist() + stat_values.tolist(), strict=True))

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:
            logs.update(self.window_averages())
        super().log(logs, start_time)
