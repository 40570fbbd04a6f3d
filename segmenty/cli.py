"""Shared command-line plumbing: argument parsing with defaults shown, and one-line user errors."""

import argparse
import sys


class UserError(Exception):
    """A mistake in the user's input: printed as one line, exit status 2."""


class Fatal(Exception):
    """A failure outside the user's control (no network): one line, exit status 1."""


def invalid(name, value, expected):
    """UserError in Keras's style: which argument, what was received, what was expected."""
    key = name.lstrip("-").replace("-", "_")
    return UserError(f"Invalid value for {name}. Received: {key}={value!r}. Expected {expected}.")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    def _get_help_string(self, action):
        # A help text that explains its own default ("default: the model's") keeps just that.
        if "(default" in (action.help or ""):
            return action.help
        if action.option_strings and action.default in (None, False):  # an option left unused
            return f"{action.help} (default: off)"
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def parser(description, epilog=None):
    """argparse parser whose --help shows every default and whose errors are one line."""
    return _Parser(description=description, epilog=epilog, formatter_class=_Formatter)


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
    """Call main(argv); turn UserError into exit 2, Fatal into exit 1, Ctrl-C into exit 130."""
    try:
        status = main(argv)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except Fatal as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
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
