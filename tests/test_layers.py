"""The package's layers only point down: no module imports, even inside a function, one that imports it back."""

import ast
import os

import segmenty

PACKAGE = os.path.dirname(segmenty.__file__)


def module_names():
    names = []
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, name), os.path.dirname(PACKAGE))[:-3]
                names.append(rel.replace(os.sep, ".").removesuffix(".__init__"))
    return sorted(names)


def imports_of(module, known):
    path = os.path.join(os.path.dirname(PACKAGE), *module.split("."))
    path = path + ".py" if os.path.isfile(path + ".py") else os.path.join(path, "__init__.py")
    with open(path) as f:
        tree = ast.parse(f.read())
    found = set()
    for node in ast.walk(tree):  # every import, at the top or inside a function
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name in known and name != module and name != "segmenty"}


def test_no_module_imports_one_that_imports_it_back():
    known = set(module_names())
    graph = {m: imports_of(m, known) for m in known}
    assert graph["segmenty.find"] >= {"segmenty.geometry", "segmenty.pose"}  # the scan sees imports

    cycles, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_library_never_imports_its_commands():
    known = set(module_names())
    library = [m for m in known if not m.startswith("segmenty.commands") and m not in ("segmenty.__main__", "segmenty.demo")]
    leaks = {m: sorted(i for i in imports_of(m, known) if i.startswith("segmenty.commands")) for m in library}
    assert {m: v for m, v in leaks.items() if v} == {}
