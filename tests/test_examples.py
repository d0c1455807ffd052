"""Every Python example in the documents runs as written.

Each fenced ```python block (or MyST ```{code-block} python) of README.md and
of every Markdown file under docs/ is one test, with an id such as
``README.md:123`` (the file and the line of the fence).  It runs on its own, as a reader would paste it: in a fresh
interpreter (this one's ``sys.executable``), in an empty temporary directory,
with no variable from another block.  Examples that need an optional package
(PyTorch, scikit-learn, Dask, matplotlib) run too: the test extra installs them
all.
"""
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md",
             *sorted(path for path in (ROOT / "docs").rglob("*.md")
                     if "_build" not in path.relative_to(ROOT).parts)]
# An example that takes longer than this is too slow for a document anyway.
TIMEOUT = 180

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\n`]*)$")
_PYTHON = {"python", "py", "python3"}
# MyST's directives that show code, with the language as their argument.
_CODE_DIRECTIVES = {"{code-block}", "{code}", "{sourcecode}"}


def python_blocks(path):
    """(line of the opening fence, source) of each Python block in a
    Markdown file, with the fence's indentation (and a MyST directive's
    options) removed."""
    blocks, lines = [], path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        words = [word.lower() for word in opening["info"].split()]
        directive = bool(words) and words[0] in _CODE_DIRECTIVES
        language = (words[1:2] if directive else words[:1]) or [""]
        body, start = [], i + 1
        i += 1
        while i < len(lines):
            closing = _FENCE.match(lines[i])
            if (closing and closing["fence"][0] == fence[0]
                    and len(closing["fence"]) >= len(fence) and not closing["info"].strip()):
                break
            line = lines[i]
            body.append(line[min(indent, len(line) - len(line.lstrip(" "))):])
            i += 1
        i += 1
        if directive:
            while body and body[0].startswith(":"):  # :caption: and the like
                del body[0]
        if language[0] in _PYTHON:
            blocks.append((start, "\n".join(body) + "\n"))
    return blocks


EXAMPLES = [pytest.param(path, source,
                         id=f"{path.relative_to(ROOT).as_posix()}:{line}")
            for path in DOCUMENTS for line, source in python_blocks(path)]


def test_the_examples_are_found():
    # Guards against a parser that finds nothing: the README has examples.
    assert sum(1 for p in EXAMPLES if p.values[0].name == "README.md") >= 5


def test_the_parser_reads_fences_as_markdown_does(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n"
                    "```python\nprint(1)\n```\n"
                    "```sh\nmake test\n```\n"
                    "````python\n```\nnot a fence end\n````\n"
                    "- item\n\n  ```python\n  x = 1\n  ```\n"
                    "```{code-block} python\n:caption: c\ny = 2\n```\n"
                    "```{code-block} sh\nls\n```\n")
    assert python_blocks(page) == [(2, "print(1)\n"), (8, "```\nnot a fence end\n"),
                                   (14, "x = 1\n"), (17, "y = 2\n")]


def _text(output):
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


@pytest.mark.parametrize("path, source", EXAMPLES)
def test_example_runs(path, source, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(source, encoding="utf-8")
    env = dict(os.environ)
    # This checkout's fastbp, whether or not it is installed; no display for
    # matplotlib.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    try:
        done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{path.name}: the example ran for more than {TIMEOUT} s\n"
                    f"--- stderr ---\n{_text(exc.stderr)}")
    assert done.returncode == 0, (f"the example exited with {done.returncode}\n"
                                  f"--- stdout ---\n{done.stdout}\n"
                                  f"--- stderr ---\n{done.stderr}")
