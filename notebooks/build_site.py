"""Build the course as a static website that works offline.

    python notebooks/build_site.py --out site/                   # executes every notebook, then writes the site
    MINIGAN_FAST=1 python notebooks/build_site.py --out site/    # the same in fast mode (about a minute of training)

Each notebook is built from its source in notebooks/src/ and executed top to bottom
in a fresh Jupyter kernel (MINIGAN_FAST, if set, reaches the kernel; progress bars
are switched off, so no half-drawn bar is kept). Then the site is written:

    DIR/index.html        the chapters in course order, with their titles
    DIR/NN_name.html      one page per notebook: its text, code and outputs, previous/next links
    DIR/style.css         the one style sheet

Figures are embedded in the pages as PNG data, formulas are converted to MathML by
latex2mathml when the site is built (browsers draw MathML themselves: no script, no
font to fetch), and the pages use the reader's own fonts. So every page needs nothing
but files inside DIR: the site opens from a file share or a USB stick, and nothing is
requested from another host. A narrow screen (a phone) scrolls wide code, tables and
formulas sideways inside their own boxes; the page itself fits the screen.
"""

import argparse
import base64
import html
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_notebooks import build_notebook, targets  # (this folder is not a package)

CELL_TIMEOUT_S = 1800
LONG_INLINE = 24  # characters of TeX: an inline formula longer than this may be wider than a phone

STYLE = """\
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 52rem; padding: 0.75rem 1rem 3rem; font: 17px/1.55 system-ui, sans-serif;
       color: #1d1d1f; background: #fff; overflow-wrap: break-word; }
nav.chapters { display: flex; justify-content: space-between; gap: 1rem; flex-wrap: wrap; font-size: 0.9rem;
               padding: 0.5rem 0; border-bottom: 1px solid #ddd; }
nav.chapters.bottom { border-top: 1px solid #ddd; border-bottom: 0; margin-top: 2rem; }
a { color: #0b57d0; }
h1 { font-size: 1.7rem; line-height: 1.25; } h2 { font-size: 1.35rem; } h3 { font-size: 1.1rem; }
pre { overflow-x: auto; padding: 0.6rem 0.75rem; font: 13.5px/1.45 ui-monospace, monospace; border-radius: 4px; }
pre.code { background: #f4f5f7; border-left: 3px solid #9aa5b1; }
pre.out { background: #fff; border: 1px solid #e3e3e3; }
pre.err { background: #fff0f0; border: 1px solid #f3b3b3; }
code { font-family: ui-monospace, monospace; font-size: 0.92em; }
img.figure { display: block; max-width: 100%; height: auto; margin: 0.5rem 0; }
.table { overflow-x: auto; } table { border-collapse: collapse; font-size: 0.93rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; vertical-align: top; }
.math-display { overflow-x: auto; overflow-y: hidden; padding: 0.25rem 0; }
.math-wide { display: inline-block; max-width: 100%; overflow-x: auto; overflow-y: hidden; vertical-align: -0.35em; }
math[display="block"] { font-size: 1.1em; }
blockquote { margin: 1rem 0; padding: 0.25rem 1rem; border-left: 4px solid #c8d3e0; background: #f6f8fb; }
ul.toc { list-style: none; padding-left: 0; } ul.toc li { margin: 0.5rem 0; }  /* titles carry their numbers */
"""

PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="style.css">
</head>
<body>
{body}
</body>
</html>
"""


# ---- text: markdown with formulas -> HTML with MathML ------------------------------------
CODE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)  # fenced blocks and code spans: no math inside
MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\$)(.+?)(?<!\\)\$", re.DOTALL)  # $$display$$ or $inline$


def markdown_to_html(text):
    """A markdown cell as HTML; each $...$ and $$...$$ becomes MathML.

    Formulas are swapped for placeholders before the markdown pass (so that markdown
    does not read their _ and * as emphasis) and swapped back afterwards.
    """
    import markdown
    from latex2mathml.converter import convert

    kept = []

    def keep(fragment):
        kept.append(fragment)
        return f"\x00{len(kept) - 1}\x00"

    def math(m):
        display = m.group(1) is not None
        mathml = convert((m.group(1) if display else m.group(2)).strip(), display="block" if display else "inline")
        if display:
            return keep(f'<div class="math-display">{mathml}</div>')
        # a formula does not break across lines: a long one gets a box that scrolls on a narrow screen
        return keep(f'<span class="math-wide">{mathml}</span>' if len(m.group(2)) > LONG_INLINE else mathml)

    pieces, last = [], 0
    for m in CODE.finditer(text):  # math only outside code
        pieces += [MATH.sub(math, text[last : m.start()]), m.group(0)]
        last = m.end()
    pieces.append(MATH.sub(math, text[last:]))
    body = markdown.markdown("".join(pieces), extensions=["tables", "fenced_code"], output_format="html")
    body = body.replace("<table>", '<div class="table"><table>').replace("</table>", "</table></div>")
    return re.sub("\x00(\\d+)\x00", lambda m: kept[int(m.group(1))], body)


# ---- code and outputs ------------------------------------------------------------------
def _stream_text(text):
    """What a terminal would show: of each line rewritten with carriage returns, the last version."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def outputs_to_html(outputs):
    parts = []
    for out in outputs:
        if out.output_type == "stream":
            text = _stream_text(out.text)
            if text.strip():
                parts.append(f'<pre class="out">{html.escape(text.rstrip())}</pre>')
        elif out.output_type == "error":
            parts.append(f'<pre class="err">{html.escape(out.ename + ": " + out.evalue)}</pre>')
        else:  # display_data, execute_result
            data = out.get("data", {})
            if "image/png" in data:
                png = data["image/png"].replace("\n", "")
                base64.b64decode(png, validate=True)  # a broken figure fails the build, not the reader
                parts.append(f'<img class="figure" alt="figure" src="data:image/png;base64,{png}">')
            elif "text/plain" in data:
                parts.append(f'<pre class="out">{html.escape(data["text/plain"])}</pre>')
    return "\n".join(parts)


def cell_to_html(cell):
    if cell.cell_type == "markdown":
        return markdown_to_html(cell.source)
    code = f'<pre class="code"><code>{html.escape(cell.source)}</code></pre>'
    return code + "\n" + outputs_to_html(cell.get("outputs", []))


# ---- pages -----------------------------------------------------------------------------
def title_of(nb):
    """The first heading of the first markdown cell, without its '#'s."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return "untitled"


def nav(chapters, i, where):
    prev_link = f'<a rel="prev" href="{chapters[i - 1][0]}">&larr; {html.escape(chapters[i - 1][1])}</a>' if i else ""
    next_link = (f'<a rel="next" href="{chapters[i + 1][0]}">{html.escape(chapters[i + 1][1])} &rarr;</a>'
                 if i + 1 < len(chapters) else "")  # fmt: skip
    return (f'<nav class="chapters {where}"><span>{prev_link}</span><a href="index.html">All chapters</a>'
            f"<span>{next_link}</span></nav>")  # fmt: skip


def page(title, body):
    return PAGE.format(title=html.escape(title), body=body)


def execute(nb):
    """Run nb top to bottom in a fresh kernel, in notebooks/ (as Jupyter would); returns nb."""
    from nbclient import NotebookClient

    os.environ["TQDM_DISABLE"] = "1"  # no progress bars in a page: it would keep one frozen state
    os.environ.setdefault("MPLBACKEND", "Agg")
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(HERE)}})  # fmt: skip
    client.execute()
    return nb


def build(out, notebooks=None):
    """Execute the course's notebooks (or the given [(name, NotebookNode)]) and write the site into out."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if notebooks is None:
        notebooks = []
        for src, dest in targets():
            print(f"running {dest.name} ...", flush=True)
            notebooks.append((dest.stem, execute(build_notebook(src))))
    chapters = [(f"{name}.html", title_of(nb)) for name, nb in notebooks]
    for i, (name, nb) in enumerate(notebooks):
        body = "\n".join([nav(chapters, i, "top"), *(cell_to_html(c) for c in nb.cells), nav(chapters, i, "bottom")])
        (out / chapters[i][0]).write_text(page(chapters[i][1], body))
    toc = "\n".join(f'<li><a href="{href}">{html.escape(title)}</a></li>' for href, title in chapters)
    mode = "in fast mode (little data, few steps)" if os.environ.get("MINIGAN_FAST") == "1" else "at full length"
    index = (f"<h1>minigan: the course</h1>\n<p>The {len(chapters)} notebooks of the course, run top to bottom "
             f"{mode}, with their figures. Read them in order.</p>\n<ul class=\"toc\">\n{toc}\n</ul>")  # fmt: skip
    (out / "index.html").write_text(page("minigan: the course", index))
    (out / "style.css").write_text(STYLE)
    return [out / "index.html", *(out / href for href, _ in chapters)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the folder to write the site into")
    args = parser.parse_args(argv)
    written = build(args.out)
    print(f"wrote {len(written)} pages and style.css to {args.out}; open {Path(args.out) / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
