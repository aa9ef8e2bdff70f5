"""The main job under two processes (torch.distributed with gloo on CPU), as `accelerate launch`
or torchrun starts it on several GPUs.

Run as a script (``python -m torch.distributed.run ... tests/test_distributed.py OUT TOKENIZER BATCH ACCUMULATION
[HIDDEN_LOSS_WEIGHT]``), this file is also the worker of the loss-rescaling tests: a few SGD steps of multi-teacher
distillation, the student's weights saved to ``OUT/weights.pt`` by the first process.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import free_port, make_texts

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "pretrain_multiteacher.py"
# Subprocesses import this repository's lexkd, not an installed copy of it.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


@pytest.mark.slow
def test_main_job_with_two_processes(tmp_path):
    torchrun = shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not on PATH")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(make_texts(400, seed=3)) + "\n")
    root = tmp_path / "run"
    command = [
        torchrun, "--nproc_per_node", "2", "--master_port", str(free_port()), str(SCRIPT), "--use_cpu",
        "--output_dir", str(root), "--corpus", str(corpus), "--vocab_size", "120", "--max_seq_length", "16",
        "--teacher_max_steps", "3", "--max_steps", "4", "--eval_steps", "2", "--save_steps", "2",
        "--logging_steps", "1", "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "2",
        "--student_hidden_size", "32", "--student_heads", "2", "--student_layers", "1", "--disable_tqdm", "true",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Report written") == 1  # only the first process writes the report
    state = json.loads((root / "student-distilled" / "checkpoint-4" / "trainer_state.json").read_text())
    epoch_per_step = state["log_history"][0]["epoch"] / state["log_history"][0]["step"]
    # Two processes x 2 accumulated micro-batches of 4 sequences per step.
    sequences = json.loads((root / "results.json").read_text())["settings"]["train_sequences"]
    assert epoch_per_step == pytest.approx(16 / sequences, rel=0.05)
    assert (root / "student-distilled" / "model" / "config.json").is_file()


# ---------------------------------------------------------------- loss rescaling across processes

def distil_a_few_steps(output_dir: str, tokenizer_dir: str, batch_size: int, accumulation: int,
                       hidden_loss_weight: float = 0.0) -> dict:
    """Three SGD steps of multi-teacher distillation on fixed-masked rows: the student's
    ``{"initial": ..., "final": ...}`` weights (also saved to ``OUTPUT_DIR/weights.pt`` by the first process).

    With ``hidden_loss_weight > 0``, the hidden-state term is on: one text per row (padding differs
    between micro-batches and processes), the first teacher 48 wide (a learned projection), and the
    final projector weights are in the result too (``"projectors"``).

    SGD with a constant rate and no clipping, so a wrong loss scale shows in the weights (Adam
    would normalise it away); no dropout, so that processes and micro-batches draw nothing.
    """
    from transformers import AutoTokenizer

    from lexkd.data.collators import MaskedLMCollator, mask_once
    from lexkd.data.tokenization import tokenize_texts
    from lexkd.mlm.teachers import Teacher
    from lexkd.mlm.trainer import DistillationArguments, MultiTeacherDistillationTrainer
    from lexkd.models.masked_lm import MaskedPositionMLM, build_student

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)  # one file: WordPiece retrained per process may number tokens apart
    hidden = hidden_loss_weight > 0
    rows = mask_once(tokenize_texts(make_texts(80, seed=1), tokenizer, max_seq_length=16, line_by_line=hidden),
                     tokenizer, seed=3)

    def model(seed, width=32):
        built = build_student(len(tokenizer), num_hidden_layers=1, hidden_size=width, num_attention_heads=2, seed=seed)
        built.config.hidden_dropout_prob = built.config.attention_probs_dropout_prob = 0.0
        without_dropout = type(built)(built.config)
        without_dropout.load_state_dict(built.state_dict())
        return without_dropout

    teachers = [Teacher(f"t{i}", model(10 + i, 48 if hidden and i == 0 else 32).eval(), tokenizer) for i in range(2)]
    student = model(0)
    initial = {name: tensor.clone() for name, tensor in student.state_dict().items()}
    args = DistillationArguments(
        output_dir=output_dir, max_steps=3, per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation, optim="sgd", learning_rate=0.5, lr_scheduler_type="constant",
        max_grad_norm=0.0, save_strategy="no", eval_strategy="no", report_to="none", use_cpu=True,
        disable_tqdm=True, seed=7, alpha=0.5, temperature=2.0, logging_steps=1, hidden_loss_weight=hidden_loss_weight)
    trainer = MultiTeacherDistillationTrainer(model=MaskedPositionMLM(student), args=args, train_dataset=rows,
                                              data_collator=MaskedLMCollator(tokenizer), teachers=teachers)
    trainer.train()
    result = {"initial": initial, "final": {name: t.detach().clone() for name, t in student.state_dict().items()}}
    if hidden:
        result["projectors"] = {name: t.detach().clone() for name, t in trainer.model.hidden_projectors.state_dict().items()}
    if trainer.is_world_process_zero():
        torch.save(result, Path(output_dir) / "weights.pt")
    return result


@pytest.mark.parametrize("hidden_loss_weight", [0.0, 2.0])
def test_two_processes_update_as_one_process_on_the_same_global_batch(tmp_path, tokenizer, hidden_loss_weight):
    """2 processes x batch 2 x 2 accumulated micro-batches == 1 process x batch 8, step for step.

    Each process divides its summed loss by the masked positions of all processes and all
    micro-batches (num_items_in_batch) and multiplies by the number of processes, which DDP's
    gradient averaging divides out again: the update is that of the loss summed over the global
    batch divided by its masked positions, as on one process. The same for the hidden-state term
    over the non-padding tokens; its projectors run in the student's forward, so DDP averages their
    gradients too.
    """
    if not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
        pytest.skip("this torch build has no gloo backend for a 2-process group on CPU")
    tokenizer.save_pretrained(tmp_path / "tokenizer")
    reference = distil_a_few_steps(str(tmp_path / "one"), str(tmp_path / "tokenizer"), batch_size=8, accumulation=1,
                                   hidden_loss_weight=hidden_loss_weight)
    out = tmp_path / "two"
    out.mkdir()
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               str(free_port()), __file__, str(out), str(tmp_path / "tokenizer"), "2", "2", str(hidden_loss_weight)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=tmp_path, env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    two = torch.load(out / "weights.pt")
    moved = False
    for name, tensor in reference["final"].items():
        assert torch.equal(two["initial"][name], reference["initial"][name]), name  # the same start
        torch.testing.assert_close(two["final"][name], tensor, atol=1e-5, rtol=0, msg=name)
        moved |= not torch.allclose(tensor, reference["initial"][name], atol=1e-3)
    assert moved  # the steps changed the weights: the identity is not 'nothing moved'
    for name, tensor in reference.get("projectors", {}).items():
        torch.testing.assert_close(two["projectors"][name], tensor, atol=1e-5, rtol=0, msg=name)
    assert ("projectors" in reference) == (hidden_loss_weight > 0)


if __name__ == "__main__":
    distil_a_few_steps(sys.argv[1], sys.argv[2], batch_size=int(sys.argv[3]), accumulation=int(sys.argv[4]),
                       hidden_loss_weight=float(sys.argv[5]) if len(sys.argv) > 5 else 0.0)
