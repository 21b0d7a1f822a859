"""The course's two releases (notebooks/make_notebooks.py --release student|instructor OUT):
the student one has every exercise as a stub and no solution anywhere; the instructor one
has every exercise filled in from notebooks/solutions.py and runs clean, each check
printing "correct!" (executed in fast mode, as tests/test_notebooks.py runs the course)."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from minigan.exercises import CHECKERS

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
MAKE = NOTEBOOK_DIR / "make_notebooks.py"
SHAPES_ONLY = re.compile(r"^[\w, ]+ = [\w\[\], .]*\.shape\b")  # a starter line a stub may give away
INSTALL_HINT = "install the test tools with  pip install -e '.[test]'  (they bring nbclient and ipykernel)"


def _release(kind, out):
    result = subprocess.run(
        [sys.executable, str(MAKE), "--release", kind, str(out)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return sorted(out.glob("*.ipynb"))


def _exercise_cells(path):
    """{exercise name: the source of the code cell that defines it and calls check on it}."""
    import nbformat

    cells = {}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code" or "check(" not in cell.source or cell.source.lstrip().startswith(("%", "!")):
            continue
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.FunctionDef) and node.name in CHECKERS:
                cells[node.name] = cell.source
    return cells


def _every_exercise(paths):
    """``_exercise_cells`` over the notebooks ``paths``, which hold every exercise that has a checker."""
    exercises = {}
    for path in paths:
        exercises.update(_exercise_cells(path))
    assert set(exercises) == set(CHECKERS)
    return exercises


def _solution_bodies():
    """{name: the statements of each reference solution after its docstring, as source lines}."""
    text = (NOTEBOOK_DIR / "solutions.py").read_text()
    bodies = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef):
            statements = node.body[1:] if isinstance(node.body[0], ast.Expr) else node.body
            bodies[node.name] = [ast.get_source_segment(text, s).strip() for s in statements]
    return bodies


def test_a_release_needs_a_folder():
    result = subprocess.run(
        [sys.executable, str(MAKE), "--release", "student"], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "--release takes a folder" in result.stderr


def test_student_release_has_stubs_and_no_solutions(tmp_path):
    written = _release("student", tmp_path)
    committed = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    assert [p.name for p in written] == [p.name for p in committed]
    for got, want in zip(written, committed, strict=True):
        assert got.read_text() == want.read_text(), f"{got.name} differs from the committed notebook"
    assert not (tmp_path / "solutions.py").exists()

    exercises = _every_exercise(written)
    bodies = _solution_bodies()
    for name, source in exercises.items():
        assert "raise NotImplementedError" in source, name
        leaked = [line for line in bodies[name] if line in source and not SHAPES_ONLY.match(line)]
        assert not leaked, f"{name}: the student release holds solution lines {leaked}"


def test_instructor_release_fills_in_every_exercise(tmp_path):
    written = _release("instructor", tmp_path)
    assert (tmp_path / "solutions.py").read_text() == (NOTEBOOK_DIR / "solutions.py").read_text()
    exercises = _every_exercise(written)
    bodies = _solution_bodies()
    for name, source in exercises.items():
        assert "raise NotImplementedError" not in source, name
        assert all(line in source for line in bodies[name]), name


@pytest.mark.notebooks
def test_instructor_release_runs_clean_in_fast_mode(tmp_path, fast_notebook_env):
    try:
        import ipykernel  # noqa: F401  (the kernel the notebooks run in)
        import nbformat
        from nbclient import NotebookClient
    except ImportError as e:
        pytest.fail(f"cannot run notebooks: {e}; {INSTALL_HINT}")

    graded = []
    for path in _release("instructor", tmp_path):
        if not _exercise_cells(path):
            continue  # no exercise: the release is the committed notebook, run by test_notebooks.py
        nb = nbformat.read(path, as_version=4)
        NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
        for cell in nb.cells:
            if cell.cell_type != "code" or "check(" not in cell.source:
                continue
            printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            assert "not yet" not in printed, f"{path.name}: {printed}"
            graded += [line.split(":")[0] for line in printed.splitlines() if ": correct!" in line]
    assert sorted(graded) == sorted(CHECKERS)
