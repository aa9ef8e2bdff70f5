"""The command line of every script: no abbreviated flags, YAML scalars for list flags."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import lexkd.cli


def script_modules():
    return sorted(m.name for m in pkgutil.iter_modules(lexkd.cli.__path__) if not m.name.startswith("_"))


@pytest.mark.parametrize("name", script_modules())
def test_an_abbreviated_flag_is_an_error_not_a_guess(name, capsys):
    """argparse would take ``--hel`` for ``--help`` (exit 0) and ``--alph`` for ``--alpha``; abbreviations are off."""
    module = importlib.import_module(f"lexkd.cli.{name}")
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--hel"])
    captured = capsys.readouterr()
    assert exit_info.value.code == 2 and "error:" in captured.err and "show this help" not in captured.out, name


def test_alph_is_not_alpha():
    from lexkd.mlm.trainer import DistillationArguments
    from lexkd.utils.cli import parse_args

    assert parse_args((DistillationArguments,), ["--alpha", "0.3", "--output_dir", "x"])[0].alpha == 0.3
    with pytest.raises(SystemExit):
        parse_args((DistillationArguments,), ["--alph", "0.3", "--output_dir", "x"])


def test_yaml_scalar_for_a_list_flag_is_one_item(tmp_path):
    from lexkd.data.arguments import CorpusArguments
    from lexkd.mlm.arguments import TeacherArguments
    from lexkd.utils.cli import parse_args

    config = tmp_path / "job.yaml"
    config.write_text("corpus: ../text/brown.zip\nteachers: path/to/one\n")
    corpus, teachers = parse_args((CorpusArguments, TeacherArguments), ["--config", str(config)])
    assert corpus.corpus == ["../text/brown.zip"] and teachers.teachers == ["path/to/one"]


@pytest.mark.parametrize("config", sorted(p.name for p in (Path(__file__).parents[1] / "configs").glob("*.yaml")))
def test_every_shipped_config_is_read_by_the_main_job(config):
    """Each file in configs/ names only flags of scripts/pretrain_multiteacher.py (an unknown key stops parsing)."""
    import yaml

    from lexkd.cli.pretrain_multiteacher import ARGUMENTS, DEFAULTS
    from lexkd.utils.cli import parse_args

    path = Path(__file__).parents[1] / "configs" / config
    parsed = parse_args(ARGUMENTS, ["--config", str(path)], DEFAULTS)
    values = {k: v for group in parsed for k, v in vars(group).items()}
    for key, value in yaml.safe_load(path.read_text()).items():
        expected = [value] if key in ("corpus", "teachers") and isinstance(value, str) else value
        expected = [] if key == "report_to" and value == "none" else expected  # transformers' normal form
        assert values[key] == expected or str(values[key]) == str(expected), (config, key)
