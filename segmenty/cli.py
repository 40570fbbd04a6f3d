"""The command line on top of the library: parsers that show their defaults, and one-line errors.

Each command (segmenty/commands/) builds a parser here, turns its flags into one library call,
and is handed to `run`, which prints the library's own errors (segmenty.errors) as one line with
the flags' names. Each is a subcommand of `segmenty` and a top-level script (COMMANDS).
"""

import argparse
import dataclasses
import re
import sys

from segmenty.errors import SegmentyError, Unavailable

_parsers = []  # every parser built here, newest last: run() names arguments by their flags

# The subcommands of `segmenty`, in the pipeline's order: the top-level script each one also is
# (the original's workflow), and its line in `segmenty --help`.
COMMANDS = {
    "fetch": ("fetch_backgrounds.py", "photos to paste the pattern on: background/"),
    "pattern": ("make_patterns.py", "the printed pattern and its masks: pattern/, and a PDF to print"),
    "samples": ("make_samples.py", "synthetic samples of the pattern: training/, training.json"),
    "freshen": ("freshen_samples.py", "keep regenerating a sample folder while training reads it"),
    "train": ("train_segmenter.py", "train the network on the samples: save.keras"),
    "test": ("test_segmenter.py", "find the pattern in photos, a video or a camera: scratch/"),
    "animate": ("animate_snapshots.py", "training as an animated GIF: animation_000000.gif"),
    "export": ("export_segmenter.py", "a trained model as one ONNX file, for onnxruntime"),
    "calibrate": ("calibrate_segmenter.py", "measure a trained model's find decision again"),
}


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    def _get_help_string(self, action):
        # A help text that explains its own default ("default: the model's") keeps just that.
        if "(default" in (action.help or ""):
            return action.help
        if action.option_strings and (action.default is None or action.default is False):  # left unused (0 is a value)
            return f"{action.help} (default: off)"
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def parser(description, epilog=None, prog=None):
    """argparse parser whose --help shows every default and whose errors are one line.

    Args:
        description: str, what the command does.
        epilog: str, examples that call the scripts (./make_samples.py ...). Defaults to none.
        prog: str, the command as typed, e.g. "segmenty samples"; the examples then call it the
            same way ("segmenty samples ..."). Defaults to the script's name, as argparse does.
    """
    if prog and epilog:
        epilog = _calling(epilog, prog.rsplit(" ", 1)[0])  # "segmenty", or "python -m segmenty"
    p = _Parser(prog=prog, description=description, epilog=epilog, formatter_class=_Formatter)
    _parsers.append(p)
    return p


def _calling(epilog, program):
    """The epilog with `program NAME` for each ./script.py it calls, its comments kept in their column."""
    lines = []
    for line in epilog.splitlines():
        code, mark, comment = line.partition(" # ")
        called = code
        for name, (script, _) in COMMANDS.items():
            called = called.replace(f"./{script}", f"{program} {name}")
        if called != code:
            line = f"{called.rstrip().ljust(len(code))}{mark}{comment}" if mark else called
        lines.append(line)
    return "\n".join(lines)


def flag_names(p):
    """{argument name: how the command line spells it}, e.g. {"image_size": "--image-size", "out": "OUT"}."""
    names = {}
    for action in p._actions:
        if action.dest in ("help", argparse.SUPPRESS):
            continue
        shown = action.option_strings[-1] if action.option_strings else (action.metavar or action.dest)
        names[action.dest] = shown
    return names


def for_command_line(message, names):
    """The library's message with each `argument` it names shown as its flag (or plainly, if it has none)."""
    return re.sub(r"`(\w+)`", lambda m: names.get(m.group(1), m.group(1)), message)


def add_config_flags(p, config_class, skip=()):
    """One flag per field of a config dataclass: --field-name, its default and its help (metadata["help"]).

    A field's metadata may add "type" (a function from text), "choices" and "metavar"; a bool
    field that defaults to False becomes a switch. Returns the flags' names, in field order.
    """
    names = []
    for f in dataclasses.fields(config_class):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        meta = dict(f.metadata)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        kw = {"dest": f.name, "default": default, "help": meta.pop("help", None)}
        if isinstance(default, bool) and not default:
            kw["action"] = "store_true"
        else:
            kw["type"] = meta.pop("type", None) or (type(default) if default is not None else str)
            kw.update(meta)
        p.add_argument(flag, **kw)
        names.append(f.name)
    return names


def positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, received {text}")
    return value


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, received {text}")
    return value


def run(main, argv=None):
    """Call main(argv): library errors print one line and exit 2, Unavailable exits 1, Ctrl-C 130."""
    try:
        status = main(argv)
    except (SegmentyError, Unavailable) as e:
        names = flag_names(_parsers[-1]) if _parsers else {}
        print(f"error: {for_command_line(str(e), names)}", file=sys.stderr)
        sys.exit(2 if isinstance(e, SegmentyError) else 1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(status or 0)


def hide_gpus():
    """Make every Keras backend see only the CPU; call before Keras is imported."""
    import os
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ["JAX_PLATFORMS"] = "cpu"


def start_keras_quietly():
    """Import Keras and start its backend with stderr muted at the file-descriptor level.

    TensorFlow 2.20+ prints C++ start-up lines (oneDNN, CUDA probing) that TF_CPP_MIN_LOG_LEVEL
    no longer silences; they bury the lines users need. Errors still surface as Python exceptions.
    """
    import os
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced, e.g. by a test harness
        import keras  # noqa: F401
        return
    sys.stderr.flush()
    saved, devnull = os.dup(fd), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    try:
        import keras
        keras.ops.zeros((1,))  # the first op initialises devices, which logs too
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)
