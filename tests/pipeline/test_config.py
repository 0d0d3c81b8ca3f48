"""Settings: one typed dataclass; flags over the TOML file over the defaults; every value checked once."""

import pytest

from mnist_ova.errors import InputError
from mnist_ova.pipeline import config
from mnist_ova.pipeline.cli import build_parser


def test_every_settings_field_is_a_flag_and_a_toml_key(tmp_path, monkeypatch):
    """A file that sets every key, each to a value other than its default, gives those values."""
    import tomllib

    from mnist_ova.pipeline import tracking

    monkeypatch.setattr(tracking, "check_available", lambda: None)  # MLflow is an optional extra

    text = """data = "sample"\nout = "/o"\ncache-dir = "/c"\niterations = 7\nlearning-rate = 0.5\ntol = 0.001
dtype = "float32"\nsolver = "gd"\nl2 = 0.1\nsplit = "official"\ntest-size = 0.3\nseed = 1
class-names = "a,b"\ndataset = "kmnist"\nexamples = 3\nexamples-from = "first"\nseconds-per-example = 2.0\nfps = 10
video-size = "640x360"\nformats = "pdf"\nhtml-assets = "external"\ntemplate-dir = "/t"\nmax-bundle-mb = 5.0
title = "T"\nauthor = "A"\ncourse = "C"\ninstitution = "I"\nseat = "S"\nbaseline = "/b"
fail-under = ["multiclass_accuracy=0.5"]
max-drop = ["multiclass_accuracy=0.1"]
notes = "notes.md"
history = "/h.sqlite"
mlflow-uri = "file:///m"
"""
    assert set(tomllib.loads(text)) == {o.name for o in config.OPTIONS}, "the file must set every key"
    (tmp_path / "all.toml").write_text(text)
    (tmp_path / "notes.md").write_text("# Mine\n")
    settings = config.settings_from({}, tmp_path / "all.toml")
    for option in config.OPTIONS:
        if option.name != "solver":  # lbfgs refuses an explicit learning-rate and tol, so the file keeps gd
            assert getattr(settings, option.attr) != option.default, option.name
    help_text = build_parser().format_help()
    for option in config.OPTIONS:
        assert f"--{option.name}" in help_text


def test_help_states_each_default_once():
    text = " ".join(build_parser().format_help().split())
    assert text.count("(default:") == len(config.OPTIONS)
    assert "(default: None)" not in text and "(default: 0.01)" in text


def test_relative_paths_in_a_config_file_resolve_against_its_folder(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "run.toml").write_text('data = "digits/mine.npz"\nout = "build"\ntemplate-dir = "/abs/t"\n')
    settings = config.settings_from({}, folder / "run.toml")
    assert settings.data == str(folder / "digits" / "mine.npz")
    assert settings.out == str(folder / "build")
    assert settings.template_dir == "/abs/t"


def test_a_named_data_source_in_a_config_file_stays_a_name(tmp_path):
    (tmp_path / "run.toml").write_text('data = "sample"\n')
    assert config.settings_from({}, tmp_path / "run.toml").data == "sample"


def test_lists_are_accepted_where_the_flag_takes_a_comma_list(tmp_path):
    (tmp_path / "run.toml").write_text('formats = ["pdf", "gif"]\nclass-names = ["a", "b", "c"]\n')
    settings = config.settings_from({}, tmp_path / "run.toml")
    assert settings.formats == ("pdf", "gif") and settings.class_names == ("a", "b", "c")


def test_an_unknown_key_names_the_closest_known_one(tmp_path):
    (tmp_path / "run.toml").write_text("learning_rat = 0.1\n")
    with pytest.raises(InputError, match="did you mean 'learning-rate'"):
        config.settings_from({}, tmp_path / "run.toml")


@pytest.mark.parametrize("flags, message", [
    ({"author": "x" * 201}, "author must be at most 200 characters; got 201"),
    ({"class_names": "a," + "b" * 5000}, "class-names must be at most 200 characters; got 5000"),
    ({"formats": ""}, "formats must name at least one of"),
    ({"video_size": "10x10"}, "video-size must be WIDTHxHEIGHT"),
])
def test_bad_values_fail_before_any_work(flags, message):
    with pytest.raises(InputError, match=message):
        config.settings_from({name.replace("_", "-"): value for name, value in flags.items()})


@pytest.mark.parametrize("text, message", [
    ('dataset = ["mnist"]\n', r"dataset must be one of mnist, .*, or a \[dataset\] table in the config file; got "
                              r"\['mnist'\]"),
    ('dataset = 3\n', r"dataset must be one of .*; got 3"),
    ('[dataset]\nname = "x"\nclass-names = ["a", "b", "a"]\n', r"\[dataset\] class-names must be distinct; got \['a'\]"),
    ('[dataset]\nname = "x"\nclass-names = ["ni\\u0001ne", "b"]\n',
     r"\[dataset\] class-names must be text without control characters; got 'ni\\x01ne' \(U\+0001 at position 2\)"),
    ('[dataset]\nname = "x\\u001b[31m"\n', r"\[dataset\] name must be text without control characters"),
    ('class-names = ["a", "a"]\n', r"class-names must be distinct"),
    ('class-names = [1, 2]\n', r"class-names must be text; got 1"),
    ('author = "a\\u0007"\n', r"author must be text without control characters; got 'a\\x07'"),
    ('formats = 3\n', r"formats must be comma-separated text or a list of names; got 3"),
    ('fail-under = false\n', r"fail-under takes METRIC=VALUE"),
])
def test_a_bad_value_in_a_config_file_is_one_line_naming_the_file(tmp_path, text, message):
    """dataset = [...] and formats = 3 were internal errors (TypeError); [dataset] names repeated or with
    control characters were accepted."""
    (tmp_path / "run.toml").write_text(text)
    with pytest.raises(InputError, match=message) as info:
        config.settings_from({}, tmp_path / "run.toml")
    assert str(info.value).isprintable() and "\n" not in str(info.value)
    if "fail-under" not in text:  # its checks name the option in their own words
        assert str(info.value).startswith(f"config file {str(tmp_path / 'run.toml')!r}: ")


@pytest.mark.parametrize("flags, message", [
    ({"class-names": "ni\x01ne,b"}, r"class-names must be text without control characters; got 'ni\\x01ne'"),
    ({"class-names": "a,b,a"}, r"class-names must be distinct; got \['a'\] more than once"),
    ({"title": "x\udcff"}, r"title must be text without control characters; got 'x\\udcff'"),
    ({"seat": "1\n2"}, r"seat must be text without control characters"),
])
def test_names_and_titles_on_the_command_line_are_text(flags, message):
    with pytest.raises(InputError, match=message) as info:
        config.settings_from(flags)
    assert info.value.option == next(iter(flags)).replace("-", "_")  # the command line adds its flag


def test_a_flag_over_the_config_file_is_named_as_the_flag(tmp_path):
    (tmp_path / "run.toml").write_text('class-names = "a,b"\n')
    with pytest.raises(InputError, match="^class-names must be distinct") as info:
        config.settings_from({"class-names": "a,a"}, tmp_path / "run.toml")
    assert info.value.option == "class_names"


def _holds(value, declared):
    """Whether ``value`` is of the declared type (unions, tuple[X, ...], tuple[X, Y] and classes)."""
    import types
    import typing

    origin, arguments = typing.get_origin(declared), typing.get_args(declared)
    if origin in (typing.Union, types.UnionType):
        return any(_holds(value, option) for option in arguments)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            return all(_holds(item, arguments[0]) for item in value)
        return len(value) == len(arguments) and all(map(_holds, value, arguments))
    if declared is float:
        return isinstance(value, float)
    return isinstance(value, declared)


@pytest.mark.parametrize("source", ["defaults", "flags", "file"])
def test_every_field_holds_its_declared_type_before_any_check(tmp_path, monkeypatch, source):
    """Settings parsed, then checked: the parsed values are already of their types (a video size a pair of
    ints, formats a tuple of names, a profile a Profile), whether they came from the defaults, flags or TOML."""
    import typing

    monkeypatch.setattr(config, "check", lambda settings, given=frozenset(): settings)  # parsed only
    argv = ["--iterations", "7", "--learning-rate", "0.5", "--video-size", "640x360", "--formats", "pdf,gif",
            "--class-names", "a,b", "--dataset", "kmnist", "--fail-under", "multiclass_accuracy=0.5", "--l2", "0.1",
            "--max-bundle-mb", "5", "--seed", "3"]
    args = build_parser().parse_args(argv)  # as the command line hands them over
    flags = {option.name: getattr(args, option.attr) for option in config.OPTIONS}
    (tmp_path / "run.toml").write_text('iterations = 7.0\nlearning-rate = 1\nvideo-size = "640x360"\n'
                                       'formats = ["gif", "pdf"]\nclass-names = ["a", "b"]\n'
                                       '[dataset]\nname = "Birds"\n')
    settings = {"defaults": lambda: config.settings_from({}),
                "flags": lambda: config.settings_from(flags),
                "file": lambda: config.settings_from({}, tmp_path / "run.toml")}[source]()
    hints = typing.get_type_hints(config.Settings)
    wrong = {option.attr: getattr(settings, option.attr) for option in config.OPTIONS
             if not _holds(getattr(settings, option.attr), hints[option.attr])}
    assert wrong == {}
    assert config.Settings().video_size == (1280, 720) and config.Settings().formats == config.FORMATS


def test_the_checks_read_no_files_those_are_the_runs_preflight(tmp_path):
    """A notes file that does not exist is the run's pre-flight's to refuse (pipeline.run.preflight), not the
    settings'; the settings hold no file reader."""
    import ast
    import inspect

    settings = config.settings_from({"notes": str(tmp_path / "absent.md")})
    assert settings.notes == str(tmp_path / "absent.md")
    imported = set()
    for node in ast.walk(ast.parse(inspect.getsource(config))):
        if isinstance(node, ast.ImportFrom):
            imported |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
    assert "mnist_ova.pipeline.gates" in imported  # the check is of imports, found
    assert {name for name in imported if name.startswith(("mnist_ova.render", "mnist_ova.pipeline.deliverables",
                                                          "mnist_ova.pipeline.history"))} == set()


def test_a_recorded_config_is_parsed_and_checked_as_the_flags_are():
    settings = config.settings_of({"iterations": 5.0, "dtype": "float32", "test_size": 0.25})
    assert (settings.iterations, settings.dtype, settings.test_size) == (5, "float32", 0.25)
    assert isinstance(settings.iterations, int)
    for values, message in [({"dtype": "float16"}, r"dtype must be one of 'float64', 'float32'; got 'float16'"),
                            ({"test_size": "x"}, r"test-size must be a number > 0 and < 1; got 'x'"),
                            ({"iterations": 0}, r"iterations must be an integer >= 1; got 0")]:
        with pytest.raises(InputError, match=message):
            config.settings_of(values)


def test_the_title_page_fields_are_declared_here_once():
    assert config.TITLE_PAGE == ("title", "author", "course", "institution", "seat")


@pytest.mark.parametrize("text, message", [
    ('baseline = "history:newest"\nhistory = "h.sqlite"\n', r"baseline 'history:newest': after history: give last, "
                                                            r"best or a run id \(a number\); got 'newest'"),
    ('baseline = "history:last"\n', r"baseline 'history:last' is read from the run history: give --history FILE"),
    ('video-size = "1280 by 720"\n', r"video-size must be WIDTHxHEIGHT between 320x240 and 3840x2160; got "
                                     r"'1280 by 720'"),
    ('iterations = "many"\n', r"iterations must be an integer >= 1; got 'many'"),
    ('iterations = 1e400\n', r"iterations must be an integer >= 1; got inf"),
])
def test_a_value_that_does_not_parse_names_the_file(tmp_path, text, message):
    (tmp_path / "run.toml").write_text(text)
    with pytest.raises(InputError, match=message) as info:
        config.settings_from({}, tmp_path / "run.toml")
    if "history:last" not in text:  # a relation of two options, worded by the settings
        assert str(info.value).startswith(f"config file {str(tmp_path / 'run.toml')!r}: ")
