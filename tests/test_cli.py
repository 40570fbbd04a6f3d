import dataclasses

import pytest

from segmenty import cli
from segmenty.errors import InvalidArgument, SegmentyError


def test_library_errors_are_value_errors_that_name_the_argument():
    e = InvalidArgument("image_size", 100, "a multiple of 16")
    assert isinstance(e, ValueError) and isinstance(e, SegmentyError)
    assert str(e) == "Invalid value for `image_size`. Received: image_size=100. Expected a multiple of 16."


def test_messages_show_flags_where_the_library_names_arguments():
    p = cli.parser("a test command")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--image-size", type=int)
    names = cli.flag_names(p)
    assert names == {"out": "OUT", "image_size": "--image-size"}
    message = str(InvalidArgument("image_size", 100, "a multiple of 16"))
    assert cli.for_command_line(message, names) == ("Invalid value for --image-size. Received: image_size=100. "
                                                    "Expected a multiple of 16.")
    assert cli.for_command_line("`unknown` stays a word", names) == "unknown stays a word"


@dataclasses.dataclass
class _Config:
    steps: int = dataclasses.field(default=3, metadata={"help": "how many"})
    verbose: bool = False
    name: str = None


def test_config_fields_become_flags_with_their_defaults():
    p = cli.parser("a test command")
    assert cli.add_config_flags(p, _Config, skip=("name",)) == ["steps", "verbose"]
    a = p.parse_args(["--steps", "5", "--verbose"])
    assert a.steps == 5 and a.verbose is True
    assert p.parse_args([]).steps == 3 and "how many" in p.format_help()


def test_run_turns_a_library_error_into_one_line_and_exit_2(capsys):
    def main(argv):
        raise InvalidArgument("threshold", 2, "0 < t < 1")
    with pytest.raises(SystemExit) as stop:
        cli.run(main, [])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: Invalid value for")


def test_help_calls_an_unused_option_off_but_shows_a_default_of_zero():
    p = cli.parser("a command")
    p.add_argument("--seed", type=int, default=0, help="for the samples")
    p.add_argument("--out", help="where")
    p.add_argument("--quiet", action="store_true", help="say less")
    text = " ".join(p.format_help().split())
    assert "for the samples (default: 0)" in text
    assert "where (default: off)" in text and "say less (default: off)" in text
