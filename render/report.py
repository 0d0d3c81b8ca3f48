"""``report.html`` and ``report.pdf`` from one set of Jinja2 templates.

The words and the layout live in ``templates/``; this module only loads them, fills them
with a context of numbers and asset references, and writes the two files.
"""
import base64
import contextlib
import mimetypes
import traceback
from pathlib import Path

from mnist_ova.errors import InputError

ENTRY = "report.html.j2"


def bundled_templates():
    """The folder of the templates shipped with the package (package data, so a wheel has them)."""
    from importlib import resources

    return resources.files("mnist_ova.templates")


def environment(template_dir=None):
    """Templates from ``template_dir`` first (any file there overrides its bundled twin)."""
    import jinja2

    folders = [str(template_dir)] if template_dir else []
    if template_dir and not Path(template_dir).is_dir():
        raise InputError(f"template-dir {str(template_dir)!r} is no folder")
    folders.append(str(bundled_templates()))
    return jinja2.Environment(loader=jinja2.FileSystemLoader(folders), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


@contextlib.contextmanager
def _template_errors(env):
    """Any template failure as one ``InputError`` that names the file and line."""
    import jinja2

    try:
        yield
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(f"template {exc.filename or exc.name} line {exc.lineno}: {exc.message}; fix the "
                         "template or remove it from --template-dir") from None
    except jinja2.TemplateNotFound as exc:
        raise InputError(f"template {exc.name!r} was not found in {', '.join(env.loader.searchpath)}") from None
    except (jinja2.UndefinedError, TypeError, KeyError, ValueError) as exc:
        raise InputError(f"template {_template_line(exc)}: {type(exc).__name__}: {exc}; fix the template or "
                         "remove it from --template-dir") from None


def check_templates(template_dir=None):
    """Compile the report template now, so a broken one fails the run before any training."""
    env = environment(template_dir)
    with _template_errors(env):
        env.get_template(ENTRY)


def render_html(context, *, target, assets, template_dir=None):
    """The report as HTML text. ``target`` is "html" or "pdf"; ``assets`` maps names to URLs."""
    env = environment(template_dir)
    with _template_errors(env):
        return env.get_template(ENTRY).render(**context, target=target, asset=assets.__getitem__)


def _template_line(exc):
    """'file line N' of the innermost template frame in which ``exc`` was raised."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith((".j2", ".html", ".css"))]
    return f"{frames[-1].filename} line {frames[-1].lineno}" if frames else ENTRY


def inline_assets(paths):
    """Each asset as a data: URL, for one self-contained HTML file."""
    urls = {}
    for name, path in paths.items():
        mime = mimetypes.guess_type(str(path))[0] or "application/octet-stream"
        urls[name] = f"data:{mime};base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')}"
    return urls


def linked_assets(paths, folder):
    """Each asset as a path relative to the report's folder."""
    return {name: Path(path).relative_to(folder).as_posix() for name, path in paths.items()}


def write_pdf(html, path, *, base_url):
    """Typeset ``html`` with WeasyPrint; relative URLs resolve against ``base_url``."""
    import logging

    import weasyprint

    # WeasyPrint reports every CSS property it skips at WARNING; they are not the user's concern.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    weasyprint.HTML(string=html, base_url=str(base_url)).write_pdf(str(path))
