"""The public API: every name ``lexkd`` exports resolves, and the package layout has no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lexkd

PACKAGE = Path(lexkd.__file__).resolve().parent


@pytest.mark.parametrize("name", lexkd.__all__)
def test_every_exported_name_resolves(name):
    value = getattr(lexkd, name)
    assert value is not None
    assert name in dir(lexkd)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        lexkd.not_a_name  # noqa: B018


def _module_imports() -> dict[str, set[str]]:
    """Module -> the lexkd modules it imports (at any depth of the file, as written)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lexkd"):
                candidates = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names if a.name.startswith("lexkd")]
            else:
                continue
            targets |= {c for c in candidates if c in modules and c != name}
        graph[name] = targets - {"lexkd"}
    return graph


def test_no_import_cycle_between_modules():
    graph = _module_imports()
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for target in sorted(graph[node]):
            if target.startswith(node + "."):
                continue  # a package's __init__ re-exporting its own modules
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, f"import cycles: {cycles}"


def test_library_modules_import_no_job_or_task_adapter_for_utilities():
    graph = _module_imports()
    jobs = {name for name in graph if name.endswith(".job")}
    for module, targets in graph.items():
        if module.startswith("lexkd.cli"):
            continue  # the command-line entry points compose jobs
        if module not in jobs:
            assert not targets & jobs, f"{module} imports the job modules {sorted(targets & jobs)}"
        if module.startswith("lexkd.utils") or module.startswith("lexkd.data") or module.startswith("lexkd.models") \
                or module == "lexkd.losses" or module.startswith("lexkd.losses."):
            bad = {t for t in targets if t in jobs or t.startswith("lexkd.tasks") or t.startswith("lexkd.mlm")
                   or t.startswith("lexkd.seq2seq")}
            assert not bad, f"{module} (infrastructure) imports {sorted(bad)}"
        if (module.startswith("lexkd.seq2seq") or module.startswith("lexkd.lexical")) and module not in jobs:
            bad = {t for t in targets if t.startswith("lexkd.tasks")}
            assert not bad, f"{module} imports the task adapters {sorted(bad)}"


def _console_scripts() -> dict[str, str]:
    import tomllib

    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    return pyproject["project"]["scripts"]


@pytest.mark.parametrize("command", sorted(_console_scripts()))
def test_console_entry_point_runs_the_scripts_main(command, capsys):
    import importlib

    module_name, _, function = _console_scripts()[command].partition(":")
    module = importlib.import_module(module_name)
    entry = getattr(module, function)
    script = PACKAGE.parent / "scripts" / f"{module_name.rsplit('.', 1)[1]}.py"
    assert script.is_file(), f"{command}: no scripts/{script.name} running the same main"
    assert f"from {module_name} import" in script.read_text(encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0 and "usage:" in capsys.readouterr().out
    assert callable(entry)
