"""The main job under two processes (torch.distributed with gloo on CPU), as `accelerate launch`
or torchrun starts it on several GPUs."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import make_texts

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "pretrain_multiteacher.py"


@pytest.mark.slow
def test_main_job_with_two_processes(tmp_path):
    torchrun = shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not on PATH")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(make_texts(400, seed=3)) + "\n")
    root = tmp_path / "run"
    command = [
        torchrun, "--nproc_per_node", "2", "--master_port", "29533", str(SCRIPT), "--use_cpu",
        "--output_dir", str(root), "--corpus", str(corpus), "--vocab_size", "120", "--max_seq_length", "16",
        "--teacher_max_steps", "3", "--max_steps", "4", "--eval_steps", "2", "--save_steps", "2",
        "--logging_steps", "1", "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "2",
        "--student_hidden_size", "32", "--student_heads", "2", "--student_layers", "1", "--disable_tqdm", "true",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Report written") == 1  # only the first process writes the report
    state = json.loads((root / "student-distilled" / "checkpoint-4" / "trainer_state.json").read_text())
    epoch_per_step = state["log_history"][0]["epoch"] / state["log_history"][0]["step"]
    # Two processes x 2 accumulated micro-batches of 4 sequences per step.
    sequences = json.loads((root / "results.json").read_text())["settings"]["train_sequences"]
    assert epoch_per_step == pytest.approx(16 / sequences, rel=0.05)
    assert (root / "student-distilled" / "model" / "config.json").is_file()
