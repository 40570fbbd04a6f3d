import ast
import importlib
import os
import re
import subprocess
import sys

import pytest

from segmenty import cli, commands
from tests.conftest import ROOT

# `make install` puts the console script (pyproject.toml) beside this interpreter.
SEGMENTY = os.path.join(os.path.dirname(sys.executable), "segmenty")


def segmenty(*args, cwd=None):
    assert os.access(SEGMENTY, os.X_OK), f"no {SEGMENTY}: run `make install` (pip install -e . --no-deps)"
    return subprocess.run([SEGMENTY, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_console_script_lists_every_command_with_its_script():
    proc = segmenty("--help")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: segmenty [-h] [--version] COMMAND ...")
    for name, (script, _) in cli.COMMANDS.items():
        assert re.search(rf"^  {name} +.*\({script}\)$", proc.stdout, re.M), name


def test_console_script_writes_a_pattern_folder(tmp_path):
    proc = segmenty("pattern", "--out", "X", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("wrote X/: full + masks mask, vertical, horizontal, middle")
    assert (tmp_path / "X" / "pattern.json").is_file()


def test_console_script_refuses_a_bad_flag_in_one_line():
    proc = segmenty("pattern", "--no-such-flag")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "error: unrecognized arguments: --no-such-flag (see segmenty pattern --help)\n"


def test_python_dash_m_segmenty():
    proc = subprocess.run([sys.executable, "-m", "segmenty", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: python -m segmenty [-h]")
    assert "example: python -m segmenty pattern --help" in proc.stdout


@pytest.mark.parametrize("argv,message", [
    ([], r"the following arguments are required: COMMAND \(see segmenty --help\)"),
    (["recipes"], r"argument COMMAND: invalid choice: 'recipes' \(choose from 'fetch', .*\)"),
    # The library names `count`: the flags it is shown as are the subcommand's, not segmenty's.
    (["samples", "out", "-3"], r"Invalid value for COUNT\. Received: count=-3\. Expected a positive integer\."),
    (["samples", "out", "3", "--size", "0"], r"Invalid value for --size\. Received: size=0\..*"),
])
def test_errors_are_one_line_and_exit_2(capsys, monkeypatch, tmp_path, argv, message):
    monkeypatch.chdir(tmp_path)  # nothing is written, but if it were, not in the repository
    with pytest.raises(SystemExit) as exit:
        cli.run(commands.main, argv)
    assert exit.value.code == 2
    assert re.fullmatch(rf"error: {message}\n", capsys.readouterr().err)


@pytest.mark.parametrize("name", cli.COMMANDS)
def test_each_command_shows_its_own_help(capsys, name):
    with pytest.raises(SystemExit) as exit:
        commands.main([name, "--help"])
    out = capsys.readouterr().out
    assert exit.value.code == 0 and out.startswith(f"usage: segmenty {name} ")
    assert importlib.import_module(f"segmenty.commands.{name}").__doc__.strip() in out
    assert not re.search(r"\./\w+\.py", out), "examples say `segmenty COMMAND`, not the scripts"


@pytest.mark.parametrize("name,script", [(name, script) for name, (script, _) in cli.COMMANDS.items()])
def test_each_script_is_a_thin_wrapper_of_its_command(name, script):
    path = os.path.join(ROOT, script)
    assert os.access(path, os.X_OK), f"./{script} must stay runnable"
    with open(path) as f:
        source = f.read()
    assert len(source.splitlines()) <= 10
    body = ast.parse(source).body[1:]  # after the docstring
    imported = {(node.module, alias.name) for node in body if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert (f"segmenty.commands.{name}", "main") in imported
    assert ast.unparse(body[-1]) == "if __name__ == '__main__':\n    cli.run(main)"
