"""Build the course notebooks from their sources in notebooks/src/.

    python notebooks/make_notebooks.py           # write notebooks/NN_name.ipynb from src/NN_name.py
    python notebooks/make_notebooks.py --check   # exit 1 if a notebook differs from its source

Each source is a plain Python file in the "percent" format that Jupytext and
many editors understand, so it can be read, linted and diffed as code:

    # %% [markdown]
    # # A title
    # Some prose, each line behind "# ".

    # %%
    x = 1 + 1

``# %% [markdown]`` starts a markdown cell (the leading "# " is stripped from
each line); ``# %%`` starts a code cell. Inside a code cell a line "# %name ..."
is an IPython magic written as a comment (``# %matplotlib inline`` becomes
``%matplotlib inline``). Blank lines around a cell are dropped.

The notebooks are written with no outputs and no execution counts, and with
stable cell ids, so the same source always gives the same bytes.
"""

import argparse
import re
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
MAGIC = re.compile(r"^# (%[A-Za-z].*)$")

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python", "pygments_lexer": "ipython3"}


def parse_cells(text):
    """Split a percent-format source into [(kind, source)], kind "markdown" or "code"."""
    cells, kind, lines = [], None, []

    def flush():
        if kind is not None:
            body = "\n".join(lines).strip("\n")
            if body:
                cells.append((kind, body))

    for line in text.splitlines():
        if line.startswith("# %%"):
            flush()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        elif kind == "markdown":
            lines.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
        elif kind == "code":
            magic = MAGIC.match(line)
            lines.append(magic.group(1) if magic else line)
    flush()
    return cells


def build_notebook(source_path):
    """A NotebookNode for one source file, outputs cleared and ids stable."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO}
    stem = source_path.stem
    for i, (kind, body) in enumerate(parse_cells(source_path.read_text())):
        cell_id = f"{stem[:2]}-{i:03d}"
        if kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(body, id=cell_id))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(body, id=cell_id))
    nbformat.validate(nb)
    return nb


def render(source_path):
    """The exact text of the notebook built from ``source_path``."""
    return nbformat.writes(build_notebook(source_path)) + "\n"


def targets():
    """[(source path, notebook path)] for every source, in course order."""
    return [(src, HERE / f"{src.stem}.ipynb") for src in sorted(SOURCES.glob("[0-9][0-9]_*.py"))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a notebook is stale")
    args = parser.parse_args(argv)
    stale = []
    for src, dest in targets():
        text = render(src)
        if dest.exists() and dest.read_text() == text:
            continue
        stale.append(dest.name)
        if not args.check:
            dest.write_text(text)
    if args.check and stale:
        print("out of date with notebooks/src/: " + ", ".join(stale), file=sys.stderr)
        return 1
    if not args.check:
        print(f"wrote {len(stale)} notebook(s)" + (": " + ", ".join(stale) if stale else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
