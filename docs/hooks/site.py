"""MkDocs hooks (mkdocs.yml ``hooks:``): the site's pages that come from elsewhere.

- The user guide is the README and the configuration reference is config/README.md, taken
  as they are (one text, read on GitHub and here), with their links to each other and to
  ``docs/`` rewritten for the site.
- The API reference is generated from the code: one page for the public API (``import
  hepml``: the names of ``hepml._EXPORTS``), one per stage package (the entry points its
  ``__init__`` names, ``_EXPORTS`` or ``__all__``) and one per shared module, each rendered by
  mkdocstrings from the docstrings. Read with ``ast``: nothing of hepml is imported.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from mkdocs.structure.files import File

sys.path.append(str(Path(__file__).parent))  # the Griffe extension of mkdocs.yml, beside this
from griffe_roles import markdown

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "hepml"
# shared modules outside the stage packages, documented whole
SHARED = ("folds", "models", "atomic", "outputs", "exceptions")
# page -> (source file, {link target in the source: target on the site})
COPIED = {
    "guide.md": ("README.md", {"docs/": "", "config/README.md": "configuration.md"}),
    "configuration.md": (
        "config/README.md",
        {"../README.md": "guide.md", "../workflow/schemas/": "", "../docs/": ""},
    ),
    "reliability.md": ("RELIABILITY.md", {"docs/": "", "config/README.md": "configuration.md"}),
}
_LINK = re.compile(r"\]\((?P<target>[^)#\s]*)(?P<anchor>#[^)\s]*)?\)")


def on_config(config, **kwargs):
    """Add the API reference to the navigation: the public API, then every package."""
    pages = [{"Python API (import hepml)": "api/index.md"}]
    pages += [{f"hepml.{name}": f"api/{name}.md"} for name in _packages()]
    pages += [{"Shared modules": "api/shared.md"}]
    config["nav"].append({"API reference": pages})
    return config


def on_files(files, config, **kwargs):
    """The copied guide pages, the schema they link to, and the generated API pages."""
    for page, (source, links) in COPIED.items():
        text = _rewrite_links((ROOT / source).read_text(encoding="utf-8"), links)
        files.append(File.generated(config, page, content=text))
    schema = SRC / "schemas" / "config.schema.yaml"
    files.append(File.generated(config, "config.schema.yaml", abs_src_path=str(schema)))
    files.append(File.generated(config, "api/index.md", content=_public_page()))
    for name in _packages():
        files.append(File.generated(config, f"api/{name}.md", content=_package_page(name)))
    files.append(File.generated(config, "api/shared.md", content=_shared_page()))
    return files


# the docs/ pages themselves (statistics.md, benchmarks.md) link the guide pages by their
# paths in the repository, which GitHub shows; on the site those are the copied pages
DOCS_LINKS = {"../README.md": "guide.md", "../config/README.md": "configuration.md"}


def on_page_markdown(markdown, page, config, files, **kwargs):
    """Links of a docs/ page to the README or config/README.md: to their copies on the site."""
    if page.file.src_uri in COPIED:
        return markdown
    return _rewrite_links(markdown, DOCS_LINKS)


def _rewrite_links(text: str, links: dict[str, str]) -> str:
    def rewrite(match: re.Match) -> str:
        target, anchor = match["target"], match["anchor"] or ""
        for prefix, replacement in links.items():
            if target.startswith(prefix):
                return f"]({replacement}{target[len(prefix) :]}{anchor})"
        return match[0]

    return _LINK.sub(rewrite, text)


def _packages() -> list[str]:
    """The stage packages (those with an ``__init__``), ``api`` left out: it is the public
    page; ``cli`` too: its reference is ``hepml --help``."""
    names = sorted(p.parent.name for p in SRC.glob("*/__init__.py"))
    return [n for n in names if n not in ("api", "cli")]


def exports(init: Path) -> dict[str, str]:
    """name -> module of each entry point an ``__init__.py`` names: its ``_EXPORTS`` dict,
    else the ``from module import name`` of each name of its ``__all__``."""
    tree = ast.parse(init.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in node.targets
        ):
            return dict(ast.literal_eval(node.value))
    imported = {
        alias.asname or alias.name: node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    names = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
    )
    return {name: imported[name] for name in names}


def _entry(path: str, heading: str, level: int = 2) -> str:
    return (
        f'::: {path}\n    options:\n      heading: "{heading}"\n'
        f"      show_root_heading: true\n      heading_level: {level}\n"
    )


def _module(path: str) -> str:
    """The docstring of module ``path`` alone (its entries follow, one by one)."""
    return f"::: {path}\n    options:\n      members: false\n      show_root_heading: false\n"


def _public_page() -> str:
    names = exports(SRC / "__init__.py")
    parts = [
        "# Python API\n",
        "What `import hepml` offers, for notebooks and other frameworks (coffea processors, "
        "plain scripts). Importing hepml is light: each name is imported on first use. The "
        "README's [Python API](../guide.md#python-api) section shows it at work.\n",
        _module("hepml"),
    ]
    for name, module in names.items():
        if module.startswith("hepml.api."):
            parts.append(_entry(f"{module}.{name}", f"hepml.{name}"))
        else:  # documented with its package: a summary and a link, not a second copy
            parts.append(
                f"## `hepml.{name}`\n\n{_summary(module, name)} "
                f"[More: `{module}.{name}`][{module}.{name}]\n"
            )
    return "\n".join(parts)


def _summary(module: str, name: str) -> str:
    """The first paragraph of the docstring of ``name`` in ``module``, read with ``ast``."""
    parts = module.split(".")[1:]
    path = SRC.joinpath(*parts).with_suffix(".py")
    if not path.is_file():
        path = SRC.joinpath(*parts, "__init__.py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    node = next(
        n for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef) and n.name == name
    )
    return markdown(" ".join((ast.get_docstring(node) or "").split("\n\n")[0].split()))


def _package_page(package: str) -> str:
    parts = [
        f"# hepml.{package}\n",
        _module(f"hepml.{package}"),
        f"Entry points (`from hepml.{package} import ...`):\n",
    ]
    for name, module in exports(SRC / package / "__init__.py").items():
        parts.append(_entry(f"{module}.{name}", f"hepml.{package}.{name}"))
    return "\n".join(parts)


def _shared_page() -> str:
    parts = ["# Shared modules\n", "Concepts every stage uses, one module each.\n"]
    parts += [_entry(f"hepml.{name}", f"hepml.{name}") for name in SHARED]
    return "\n".join(parts)
