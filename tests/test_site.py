"""The course website (notebooks/build_site.py): built in fast mode, then every page is
opened in headless Chromium at a phone's width. Each page must load its style sheet,
draw every figure and every formula (as MathML), fit the screen, fetch nothing but
files inside the site, and link only to pages that exist, in course order.

Chromium is Debian's `chromium` package (.ci/run installs it); where it is missing the
browser test is skipped with that reason, and the checks that need no browser still run.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PHONE_WIDTH = 360  # CSS pixels: a small phone held upright

pytestmark = pytest.mark.notebooks


class _Refs(HTMLParser):
    """Every (tag, attribute, value) of a page that names another resource or page."""

    def __init__(self):
        super().__init__()
        self.refs, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.refs.append((tag, name, value))


def _refs(path):
    parser = _Refs()
    parser.feed(path.read_text())
    return parser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "MINIGAN_FAST": "1", "MPLBACKEND": "Agg"}
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, "1")
    result = subprocess.run(
        [sys.executable, str(NOTEBOOK_DIR / "build_site.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def test_index_lists_the_chapters_in_order(site):
    hrefs = [v for tag, _, v in _refs(site / "index.html").refs if tag == "a"]
    assert hrefs == [f"{p.stem}.html" for p in NOTEBOOKS]


def test_pages_link_to_their_neighbours_and_nothing_is_broken(site):
    pages = [site / f"{p.stem}.html" for p in NOTEBOOKS]
    for i, path in enumerate(pages):
        refs = _refs(path).refs
        links = [v for tag, _, v in refs if tag == "a" and not v.startswith(("http://", "https://"))]
        assert "index.html" in links, path.name
        if i:
            assert pages[i - 1].name in links, f"{path.name} has no link back to {pages[i - 1].name}"
        if i + 1 < len(pages):
            assert pages[i + 1].name in links, f"{path.name} has no link on to {pages[i + 1].name}"
        for tag, attr, value in refs:
            if value.startswith("data:") or (tag == "a" and value.startswith(("http://", "https://"))):
                continue  # an embedded figure; a link a reader may follow (never fetched by the page)
            assert not re.match(r"^([a-z]+:)?//", value), f"{path.name}: <{tag} {attr}> loads {value} from another host"
            assert (site / value.split("#")[0]).is_file(), f"{path.name}: <{tag} {attr}={value}> is broken"


def test_pages_hold_figures_and_formulas_and_no_script(site):
    for nb in NOTEBOOKS:
        page = (site / f"{nb.stem}.html").read_text()
        parsed = _refs(site / f"{nb.stem}.html")
        assert "script" not in parsed.tags, f"{nb.stem}: a page needs no script"
        assert "<merror" not in page, f"{nb.stem}: a formula latex2mathml could not convert"
        assert 'class="err"' not in page, f"{nb.stem}: a cell failed"
        assert "<math" in page, f"{nb.stem}: no formula"
        assert "data:image/png;base64," in page, f"{nb.stem}: no figure"
        assert "0%|" not in page, f"{nb.stem}: a progress bar was kept"


CHECK = """<!DOCTYPE html>
<html><body style="margin: 0">
<iframe id="page" src="PAGE" style="width: WIDTHpx; height: 800px; border: 0"></iframe>
<script>
document.getElementById("page").addEventListener("load", () => {
  const w = document.getElementById("page").contentWindow, d = w.document;
  const imgs = [...d.images];
  const maths = [...d.querySelectorAll("math")];
  const result = {
    style_loaded: w.getComputedStyle(d.body).maxWidth !== "none",
    images: imgs.length,
    images_drawn: imgs.filter(i => i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 0).length,
    formulas: maths.length,
    formulas_drawn: maths.filter(m => {
      const box = m.getBoundingClientRect();
      return w.getComputedStyle(m).display.includes("math") && box.width > 0 && box.height > 0;
    }).length,
    page_width: d.documentElement.scrollWidth,
    window_width: w.innerWidth,
    fetched: w.performance.getEntriesByType("resource").map(e => e.name),
  };
  const out = document.createElement("pre");
  out.id = "site-check";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>
</body></html>
"""


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)")
def test_every_page_displays_in_headless_chromium_at_a_phone_width(site, tmp_path):
    """Each page is loaded, unchanged, in a phone-wide frame of a small checking page beside it,
    which reports what Chromium drew. A page's Resource Timing lists every fetch but those of
    files, so any entry at all is a request to another host."""
    for name in ["index", *(p.stem for p in NOTEBOOKS)]:
        checker = site / f"_check_{name}.html"
        checker.write_text(CHECK.replace("PAGE", f"{name}.html").replace("WIDTH", str(PHONE_WIDTH)))
        result = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--allow-file-access-from-files", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=10000", "--dump-dom", checker.as_uri()],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        checker.unlink()
        found = re.search(r'<pre id="site-check">(.*?)</pre>', result.stdout, re.DOTALL)
        assert found, f"{name}: the page did not finish loading in Chromium\n{result.stderr[-2000:]}"
        r = json.loads(found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                       .replace("&amp;", "&"))  # fmt: skip
        assert r["style_loaded"], f"{name}: style.css was not applied"
        assert r["images_drawn"] == r["images"], f"{name}: {r['images'] - r['images_drawn']} figures not drawn"
        assert r["formulas_drawn"] == r["formulas"], f"{name}: {r['formulas'] - r['formulas_drawn']} formulas not drawn"
        if name != "index":
            assert r["images"] > 0 and r["formulas"] > 0, f"{name}: {r}"
        assert r["window_width"] == PHONE_WIDTH, r
        assert r["page_width"] <= PHONE_WIDTH, f"{name}: wider than a phone ({r['page_width']} px)"
        assert not r["fetched"], f"{name}: requested from another host: {r['fetched']}"
