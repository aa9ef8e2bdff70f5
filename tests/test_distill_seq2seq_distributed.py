"""scripts/distill_seq2seq.py under two processes (torch.distributed with gloo on CPU, as torchrun or
`accelerate launch` starts it on several GPUs): both train, the main process alone saves, evaluates
and writes the results rows, and the other waits for it."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import free_port, make_texts, save_tiny_bert

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "distill_seq2seq.py"


@pytest.mark.slow
def test_two_processes_write_each_file_once(tmp_path, tokenizer, student_checkpoint):
    torchrun = shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not on PATH")
    teacher_init = save_tiny_bert(tmp_path / "teacher-init" / "model", tokenizer, seed=1)
    for split, n, seed in (("train", 16, 5), ("valid", 4, 6)):
        sources = make_texts(n, seed=seed)
        (tmp_path / f"{split}.src").write_text("\n".join(sources) + "\n")
        (tmp_path / f"{split}.tgt").write_text("\n".join(" ".join(s.split()[:4]) for s in sources) + "\n")
    root = tmp_path / "out"
    command = [
        torchrun, "--nproc_per_node", "2", "--master_port", str(free_port()), str(SCRIPT), "--use_cpu", "true",
        "--task", "files", "--train_source_file", str(tmp_path / "train.src"), "--train_target_file",
        str(tmp_path / "train.tgt"), "--validation_source_file", str(tmp_path / "valid.src"),
        "--validation_target_file", str(tmp_path / "valid.tgt"), "--student", str(student_checkpoint),
        "--teacher_init", str(teacher_init), "--teacher_max_steps", "2", "--output_root", str(root),
        "--method", "word_kd", "--max_steps", "2", "--per_device_train_batch_size", "4", "--max_source_length", "16",
        "--max_target_length", "6", "--eval_num_beams", "1", "--save_strategy", "no", "--disable_tqdm", "true",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)  # this lexkd
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("word_kd: {") == 1, done.stdout  # only the main process reports
    rows = [json.loads(line) for line in (root / "results.jsonl").read_text().splitlines()]
    assert sorted(r["model"] for r in rows) == ["copy-baseline", "teacher", "word_kd"]
    assert (root / "word_kd" / "model" / "config.json").is_file()
    teachers = list(root.glob("teacher-*"))
    assert len(teachers) == 1 and (teachers[0] / "model" / "config.json").is_file()
    assert not (teachers[0] / "run").exists()  # the teacher's checkpoints are removed once it is saved
    assert rows[-1]["settings"]["teacher"] == teachers[0].name
