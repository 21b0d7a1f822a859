"""Build the course notebooks from their sources in notebooks/src/.

    python notebooks/make_notebooks.py           # write notebooks/NN_name.ipynb from src/NN_name.py
    python notebooks/make_notebooks.py --check   # exit 1 if a notebook differs from its source
    python notebooks/make_notebooks.py --release student OUT      # the course to hand out
    python notebooks/make_notebooks.py --release instructor OUT   # the same, solutions filled in

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

Every notebook gets one more code cell in front of its first one, the same in all:
``INSTALL_CELL``, which installs minigan in a hosted runtime that lacks it (from
``REPOSITORY``, below) and does nothing where it is installed.

The notebooks are written with no outputs and no execution counts, and with
stable cell ids, so the same source always gives the same bytes.

Releases. ``--release student OUT`` writes every notebook into OUT as committed:
each exercise a stub that raises NotImplementedError, and no solutions anywhere
(the checkers in ``minigan.exercises`` grade without them). ``--release
instructor OUT`` writes the same notebooks with each stub replaced by its
reference solution from ``notebooks/solutions.py`` (an exercise is a top-level
``def name(...)`` whose body raises NotImplementedError, where ``name`` is a
function of solutions.py), a note at the top saying so, and a copy of
solutions.py; run top to bottom, every check in it prints "correct!".
"""

import argparse
import ast
import re
import shutil
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
SOLUTIONS = HERE / "solutions.py"
MAGIC = re.compile(r"^# (%[A-Za-z].*)$")

# Where a hosted notebook installs minigan from when it is missing: the git address of the
# repository the course is published in, e.g. "git+https://HOST/OWNER/REPO". Whoever publishes
# the course sets it here once and rebuilds; it becomes the default of MINIGAN_REPO in every
# notebook's first code cell. Left empty, that cell asks the reader for the address instead of
# guessing one.
REPOSITORY = ""

# Every notebook's first code cell, put there by build_notebook (the sources do not repeat it):
# a hosted runtime (Colab, Kaggle, ...) has no minigan until this cell installs it.
INSTALL_CELL = """\
# Installs minigan where this runtime lacks it (a hosted notebook); does nothing where it is installed.
import importlib.util
import os
import subprocess
import sys

MINIGAN_REPO = os.environ.get("MINIGAN_REPO", "{repository}")  # the course's repository: "git+https://HOST/OWNER/REPO"
if importlib.util.find_spec("minigan") is None:
    if not MINIGAN_REPO:
        raise RuntimeError(
            "minigan is not installed here: set MINIGAN_REPO in this cell to the repository this notebook "
            'comes from ("git+https://HOST/OWNER/REPO"), then run the cell again'
        )
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "minigan @ " + MINIGAN_REPO], check=True)
    importlib.invalidate_caches()"""

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
    install = INSTALL_CELL.replace("{repository}", REPOSITORY)
    for i, (kind, body) in enumerate(parse_cells(source_path.read_text())):
        cell_id = f"{stem[:2]}-{i:03d}"
        if kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(body, id=cell_id))
        else:
            if install:  # before the first code cell
                nb.cells.append(nbformat.v4.new_code_cell(install, id=f"{stem[:2]}-install"))
                install = None
            nb.cells.append(nbformat.v4.new_code_cell(body, id=cell_id))
    nbformat.validate(nb)
    return nb


def render(source_path):
    """The exact text of the notebook built from ``source_path``."""
    return nbformat.writes(build_notebook(source_path)) + "\n"


def exercise_stubs(source):
    """[(name, first line, last line)] (0-based, inclusive) of the top-level functions in a
    code cell whose body raises NotImplementedError: the cell's exercises."""
    if "NotImplementedError" not in source:
        return []
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a cell with an IPython magic or shell line is not an exercise
        return []
    stubs = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
            isinstance(n, ast.Raise) and "NotImplementedError" in ast.unparse(n.exc or n) for n in ast.walk(node)
        ):
            stubs.append((node.name, node.lineno - 1, node.end_lineno - 1))
    return stubs


def load_solutions(path=SOLUTIONS):
    """{name: (source of the function, [the import lines it needs])} from solutions.py."""
    text = Path(path).read_text()
    tree = ast.parse(text)
    imports = {}  # a name solutions.py imports -> the import line that brings it
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                imports[alias.asname or alias.name.split(".")[0]] = ast.get_source_segment(text, node)
    solutions = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            needed = sorted({imports[name] for name in used if name in imports})
            solutions[node.name] = (ast.get_source_segment(text, node), needed)
    return solutions


def fill_in_solutions(nb, solutions):
    """Replace every exercise stub in nb's code cells by its solution; returns the names filled in."""
    filled = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.split("\n")
        needed = []
        for name, first, last in reversed(exercise_stubs(cell.source)):
            if name not in solutions:
                continue
            code, imports = solutions[name]
            lines[first : last + 1] = code.split("\n")
            needed += [line for line in imports if line not in cell.source and line not in needed]
            filled.append(name)
        if needed:
            lines = ["# the reference solution (notebooks/solutions.py) uses these", *sorted(needed), "", *lines]
        cell.source = "\n".join(lines)
    return filled[::-1]


INSTRUCTOR_NOTE = (
    "> **Instructor edition.** The exercise cells of this notebook hold the reference solutions "
    "(from `notebooks/solutions.py`), so every check prints *correct!*. Hand students the student "
    "release instead: `python notebooks/make_notebooks.py --release student OUT`."
)


def release(kind, out):
    """Write the student or instructor release of every notebook into the folder ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    solutions = load_solutions() if kind == "instructor" else None
    written = []
    for src, dest in targets():
        nb = build_notebook(src)
        if kind == "instructor" and fill_in_solutions(nb, solutions):
            at = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0
            nb.cells.insert(at, nbformat.v4.new_markdown_cell(INSTRUCTOR_NOTE, id=f"{src.stem[:2]}-instructor"))
        nbformat.validate(nb)
        (out / dest.name).write_text(nbformat.writes(nb) + "\n")
        written.append(dest.name)
    if kind == "instructor":
        shutil.copyfile(SOLUTIONS, out / SOLUTIONS.name)
        written.append(SOLUTIONS.name)
    return written


def targets():
    """[(source path, notebook path)] for every source, in course order."""
    return [(src, HERE / f"{src.stem}.ipynb") for src in sorted(SOURCES.glob("[0-9][0-9]_*.py"))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a notebook is stale")
    parser.add_argument(
        "--release",
        choices=["student", "instructor"],
        help="write a release into OUT: exercise stubs only (student) or solutions filled in (instructor)",
    )
    parser.add_argument("out", nargs="?", help="the folder a release is written to (with --release)")
    args = parser.parse_args(argv)
    if args.release:
        if args.check or not args.out:
            parser.error("--release takes a folder, e.g. --release student course-student/, and no --check")
        written = release(args.release, args.out)
        print(f"wrote the {args.release} release to {args.out}: {len(written)} files")
        return 0
    if args.out:
        parser.error(f"a folder ({args.out}) is only taken with --release student|instructor")
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
