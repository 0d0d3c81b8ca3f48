import pytest

from mnist_ova.render import report
from mnist_ova.errors import InputError


def test_a_template_dir_overrides_a_bundled_template(tmp_path):
    (tmp_path / "report.html.j2").write_text("<h1>{{ meta.title }}</h1><img src='{{ asset(\"x\") }}'>")
    html = report.render_html({"meta": {"title": "Mine"}}, target="html", assets={"x": "x.png"},
                              template_dir=tmp_path)
    assert html == "<h1>Mine</h1><img src='x.png'>"


def test_a_partial_override_keeps_the_other_bundled_files(tmp_path):
    (tmp_path / "style.css").write_text("body { color: red }")
    env = report.environment(tmp_path)
    assert env.get_template("style.css").render() == "body { color: red }"
    _, filename, _ = env.loader.get_source(env, "report.html.j2")
    assert filename == str(report.bundled_templates() / "report.html.j2")


def test_a_broken_template_names_the_file_and_line(tmp_path):
    (tmp_path / "report.html.j2").write_text("<p>\n{% if x %}\n<p>never closed\n")
    with pytest.raises(InputError, match=r"template .*report.html.j2 line 3: Unexpected end of template"):
        report.render_html({}, target="html", assets={}, template_dir=tmp_path)


def test_an_undefined_value_names_the_file_and_line(tmp_path):
    (tmp_path / "report.html.j2").write_text("<p>\n{{ nothing.here }}\n")
    with pytest.raises(InputError, match=r"report.html.j2 line 2: UndefinedError: 'nothing' is undefined"):
        report.render_html({}, target="html", assets={}, template_dir=tmp_path)


def test_a_missing_include_is_named(tmp_path):
    (tmp_path / "report.html.j2").write_text("{% include 'absent.css' %}")
    with pytest.raises(InputError, match="template 'absent.css' was not found"):
        report.render_html({}, target="html", assets={}, template_dir=tmp_path)


def test_a_template_dir_that_is_no_folder(tmp_path):
    with pytest.raises(InputError, match="template-dir .* is not a folder"):
        report.environment(tmp_path / "absent")


@pytest.mark.parametrize("source, message", [
    ("<p>\n{{ 1 // zero }}\n", r"report.html.j2 line 2: ZeroDivisionError: .*by zero; fix the template"),
    ("{{ ref('absent') }}", r"template report.html.j2: ref\(\): nothing is numbered 'absent'; fix the template"),
    ("{{ breakable(none) }}", r"report.html.j2 line 1: (TypeError|UndefinedError)"),
])
def test_a_user_template_that_fails_while_rendering_is_one_input_error(tmp_path, source, message):
    (tmp_path / "report.html.j2").write_text(source)
    with pytest.raises(InputError, match=message):
        report.render_html({"zero": 0}, target="html", assets={}, template_dir=tmp_path)
