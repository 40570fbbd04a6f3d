"""The command line: `segmenty COMMAND ...`, one module here per command, one per stage.

Each module's `main(argv=None, prog=None)` parses argv (a list of str, the arguments after the
command; defaults to sys.argv[1:]) and makes one library call. prog is the command as typed,
e.g. "segmenty samples", for its --help and errors; it defaults to the script's name. The
top-level scripts (make_samples.py ...) call the same `main`, so `./make_samples.py training 3000`
and `segmenty samples training 3000` are one command (cli.COMMANDS pairs them).

A command's module is imported only when it runs: `segmenty --help` starts no Keras and no OpenCV.
"""

import importlib
import sys

import segmenty
from segmenty import cli


def main(argv=None, prog="segmenty"):
    """`segmenty COMMAND ...`: run COMMAND's `main` with the arguments after it.

    Args:
        argv: list of str, the arguments after the program. Defaults to sys.argv[1:].
        prog: str, the program as typed, for --help and errors. Defaults to "segmenty".

    Returns:
        The command's exit status (None for 0).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    width = max(map(len, cli.COMMANDS))
    listing = "\n".join(f"  {name:<{width}}  {line} ({script})" for name, (script, line) in cli.COMMANDS.items())
    p = cli.parser(f"{segmenty.__doc__.splitlines()[0]}\n\n"
                   f"commands, in the pipeline's order (each is also a top-level script):\n{listing}",
                   epilog=f"example: {prog} pattern --help   # a command's own arguments", prog=prog)
    p.usage = "%(prog)s [-h] [--version] COMMAND ..."
    p.add_argument("--version", action="version", version=f"segmenty {segmenty.__version__}")
    p.add_argument("command", metavar="COMMAND", choices=cli.COMMANDS,
                   help="one of the commands above, followed by its own arguments")
    # Only the first word is ours: the rest goes to the command untouched, --help and "--" included.
    name = p.parse_args(argv[:1]).command
    command = importlib.import_module(f"segmenty.commands.{name}")
    return command.main(argv[1:], prog=f"{prog} {name}")


def entry_point():
    """The `segmenty` console script (pyproject.toml): main with one-line errors and exit codes."""
    cli.run(main)
