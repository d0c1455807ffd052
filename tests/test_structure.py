"""The project's shape: what its layout promises a reader, checked.

- fastbp's modules import each other without a circle, counting imports made
  inside functions, and none imports one of fastbp's own modules inside a
  function (the way a circle is usually hidden);
- ``benchmarks/`` holds the asv suite only: no script with a ``__main__`` block;
- the README stays a user's document (at most 300 lines);
- no tracked file speaks of the work's internal history or of a machine's
  local paths.
"""
import ast
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fastbp"


def _module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(name, path):
    """(imported fastbp module, line, whether inside a function) for each
    import in a module."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                       ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "fastbp":
                        found.append((alias.name, child.lineno, inside))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[:len(base) - child.level + 1]
                    source = ".".join(base + ([child.module] if child.module else []))
                else:
                    source = child.module or ""
                if source.split(".")[0] == "fastbp":
                    for alias in child.names:
                        target = f"{source}.{alias.name}"
                        found.append((target if target in MODULES else source, child.lineno,
                                      inside))
            visit(child, inside)

    visit(tree, False)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_the_graph_is_read_from_real_imports():
    # Guards the checks below against a parser that sees nothing.
    assert ("fastbp._engine", ) == tuple(
        t for t, _, _ in GRAPH["fastbp.network"] if t == "fastbp._engine")
    assert any(t == "fastbp._kernels.layout" for t, _, _ in GRAPH["fastbp._kernels.passes"])


def test_no_module_imports_one_of_fastbp_inside_a_function():
    inside = [f"{MODULES[name].relative_to(ROOT)}:{line} imports {target}"
              for name, edges in GRAPH.items() for target, line, in_function in edges
              if in_function]
    assert inside == []


def test_fastbp_imports_without_a_circle():
    edges = {name: sorted({t for t, _, _ in imports if t != name and t in MODULES})
             for name, imports in GRAPH.items()}
    state, path, circles = {}, [], []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for target in edges[node]:
            if state.get(target) == "open":
                circles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert circles == []


def test_network_knows_neither_files_nor_torch_conversion():
    targets = {t for t, _, _ in GRAPH["fastbp.network"]}
    assert not targets & {"fastbp.io", "fastbp.interop"}


def test_benchmarks_hold_the_asv_suite_only():
    scripts = [str(path.relative_to(ROOT)) for path in (ROOT / "benchmarks").glob("*.py")
               if "__main__" in path.read_text()]
    assert scripts == []


def test_the_readme_is_short():
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= 300


# Words about the work's history or a machine, not about the project.
_OFF_TOPIC = re.compile(r"\bsessions? ?[0-9]+|\bhelper-[0-9]+|\bthis session\b|\breviewers?\b"
                        r"|/(?:tmp|work|root|home)/", re.IGNORECASE)


def _tracked_text_files():
    try:
        listed = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True,
                                text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    for name in listed:
        path = ROOT / name
        if path.suffix in {".py", ".md", ".rst", ".txt", ".toml", ".json", ".cfg", ".yml",
                           ".yaml", ""} and path.is_file():
            yield name, path.read_text(errors="replace")


# A document named in another file: any path or name ending in .md or .rst.
_CITED = re.compile(r"(?<![\w/.-])([\w][\w./-]*\.(?:md|rst))\b")


def test_every_document_a_file_cites_is_in_the_repository():
    missing = sorted({f"{name}: {match.group(1)}"
                      for name, text in _tracked_text_files()
                      for match in _CITED.finditer(text)
                      # a name a test joins to a temporary directory is no citation
                      if text[match.start() - 3:match.start()] != '/ "'
                      and not (ROOT / match.group(1)).exists()
                      and not (ROOT / name).parent.joinpath(match.group(1)).exists()})
    assert missing == []


def test_no_tracked_file_speaks_of_the_work_or_the_machine():
    found = [f"{name}:{text.count(chr(10), 0, match.start()) + 1}: {match.group(0)}"
             for name, text in _tracked_text_files()
             if name != "tests/test_structure.py"
             for match in _OFF_TOPIC.finditer(text)]
    assert found == []
