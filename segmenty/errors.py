"""The errors segmenty raises on purpose; every module may import this one, it imports nothing.

A mistake in what the caller passed is a ValueError: `SegmentyError`, or `InvalidArgument`,
which names the Python argument in Keras's style:

    Invalid value for `image_size`. Received: image_size=100. Expected a multiple of 128.

The command line (cli.run) prints either as one line, with the argument's flag in place of
each `name` it knows (`--image-size`), and exits with status 2. Anything else is a bug and
keeps its traceback.
"""


class SegmentyError(ValueError):
    """A mistake in the caller's arguments or files that the library can explain in one line.

    Python argument names in the message are written in backticks, `like_this`, so the
    command line can show its flag names instead.
    """


class InvalidArgument(SegmentyError):
    """An argument with a value outside what it accepts: its name, the value, what was expected."""

    def __init__(self, name, value, expected):
        self.name, self.value, self.expected = name, value, expected
        super().__init__(f"Invalid value for `{name}`. Received: {name}={value!r}. Expected {expected}.")


class Unavailable(RuntimeError):
    """Something outside the caller's control is missing (no network): one line, exit status 1."""
