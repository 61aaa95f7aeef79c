"""The package's layers: imports between its parts point one way, and stay public.

Every `import` in `keras_siglip/` is read with `ast`, at module level and inside
functions alike (an import inside a function that closes a cycle is still a
cycle). A *part* is a subpackage (`keras_siglip/presets/`) or a top-level module
(`keras_siglip/model.py`); `keras_siglip/__init__.py` is the top, which may import
everything and which nothing else may import from.
"""

import ast
import os

import pytest

PACKAGE = "keras_siglip"
ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), PACKAGE)
TOP = "<package>"


def module_name(path, root=ROOT):
    relative = os.path.relpath(path, os.path.dirname(root))[: -len(".py")]
    parts = relative.split(os.sep)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def part_of(module, root=ROOT):
    """The part `module` (a dotted name inside the package) belongs to."""
    parts = module.split(".")
    return TOP if len(parts) == 1 else parts[1]


def imports(root=ROOT):
    """`(importer, imported module, imported names, line, inside a function)` for every
    import of the package's own modules, with relative imports resolved."""
    found = []
    for directory, _, files in os.walk(root):
        for file in sorted(files):
            if not file.endswith(".py"):
                continue
            path = os.path.join(directory, file)
            importer = module_name(path, root)
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read(), path)
            found += _module_imports(tree, importer, file == "__init__.py")
    return found


def _module_imports(tree, importer, is_package):
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
            )
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == PACKAGE:
                        found.append((importer, alias.name, (), child.lineno, in_function))
            elif isinstance(child, ast.ImportFrom):
                module = child.module or ""
                if child.level:
                    base = importer.split(".")
                    if not is_package:
                        base = base[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    module = ".".join(base + ([module] if module else []))
                if module.split(".")[0] == PACKAGE:
                    names = tuple(alias.name for alias in child.names)
                    found.append((importer, module, names, child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def targets(module, names, root=ROOT):
    """The modules an import reaches: `from keras_siglip import data` reaches
    `keras_siglip.data`, `from keras_siglip import __version__` the package itself."""
    reached = []
    for name in names or (None,):
        candidate = f"{module}.{name}" if name else module
        path = os.path.join(os.path.dirname(root), *candidate.split("."))
        if name and (os.path.isdir(path) or os.path.isfile(path + ".py")):
            reached.append((candidate, None))
        else:
            reached.append((module, name))
    return reached


def part_graph(root=ROOT):
    """`{part: {imported part: [where, ...]}}` between different parts."""
    graph = {}
    for importer, module, names, line, _ in imports(root):
        source = part_of(importer)
        for target, _ in targets(module, names, root):
            destination = part_of(target)
            if destination != source:
                where = f"{importer}:{line} imports {target}"
                graph.setdefault(source, {}).setdefault(destination, []).append(where)
    return graph


def cycles(graph):
    """Every strongly connected group of more than one part, with the imports inside it."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def connect(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for neighbour in graph.get(node, {}):
            if neighbour not in index:
                connect(neighbour)
                low[node] = min(low[node], low[neighbour])
            elif neighbour in on_stack:
                low[node] = min(low[node], index[neighbour])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [
        sorted(
            where
            for source in group
            for destination, places in graph.get(source, {}).items()
            if destination in group
            for where in places
        )
        for group in groups
    ]


def upward_imports(root=ROOT):
    """Imports of the package's top (`keras_siglip/__init__.py`) from inside a part."""
    return [
        f"{importer}:{line} imports {name} from {PACKAGE}"
        for importer, module, names, line, _ in imports(root)
        if part_of(importer) != TOP
        for target, name in targets(module, names, root)
        if target == PACKAGE
    ]


def private_imports(root=ROOT):
    """Names starting with `_` (dunders aside) imported from another part."""
    found = []
    for importer, module, names, line, _ in imports(root):
        for target, name in targets(module, names, root):
            if part_of(target) == part_of(importer):
                continue
            pieces = target.split(".") + ([name] if name else [])
            private = [
                piece for piece in pieces if piece.startswith("_") and not piece.endswith("__")
            ]
            if private:
                found.append(f"{importer}:{line} imports {'.'.join(pieces)}")
    return found


def function_imports(root=ROOT):
    """Imports of another part made inside a function (how cycles hide)."""
    return sorted(
        {
            f"{importer}:{line} imports {target} inside a function"
            for importer, module, names, line, in_function in imports(root)
            if in_function
            for target, _ in targets(module, names, root)
            if part_of(target) != part_of(importer)
        }
    )


def test_the_parts_import_each_other_without_cycles():
    graph = part_graph()
    assert graph, "no imports found: the walk is broken"
    assert cycles(graph) == []
    assert upward_imports() == []


def test_no_part_imports_another_parts_private_names():
    assert private_imports() == []


def test_no_part_imports_another_inside_a_function():
    assert function_imports() == []


def test_the_layers_read_as_documented():
    """Spot checks of the order the contributing guide describes."""
    graph = part_graph()

    def reaches(source, destination, seen=()):
        return any(
            neighbour == destination
            or (neighbour not in seen and reaches(neighbour, destination, (*seen, neighbour)))
            for neighbour in graph.get(source, {})
        )

    for low, high in [
        ("layers", "towers"),
        ("towers", "model"),
        ("losses", "model"),
        ("model", "presets"),
        ("model", "convert"),
        ("preprocessing", "presets"),
        ("convert", "presets"),
        ("model", "cli"),
    ]:
        assert not reaches(low, high), f"{low} must not import {high}, even indirectly"
    assert reaches("cli", "model") and reaches("presets", "convert")


def _write(root, name, text):
    path = os.path.join(root, *name.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


@pytest.fixture
def toy_package(tmp_path):
    """A tiny stand-in package laid out correctly: model <- presets, both below the top."""
    root = str(tmp_path / PACKAGE)
    _write(root, "__init__.py", "from keras_siglip import model, presets\n")
    _write(root, "model.py", "import keras\n\n\ndef build():\n    return keras\n")
    _write(root, "presets/__init__.py", "from keras_siglip.presets.registry import load\n")
    _write(
        root,
        "presets/registry.py",
        "from keras_siglip.model import build\n\n\ndef load():\n    return build()\n",
    )
    return root


def test_the_checks_pass_on_a_correctly_layered_package(toy_package):
    assert cycles(part_graph(toy_package)) == []
    assert upward_imports(toy_package) == private_imports(toy_package) == []
    assert function_imports(toy_package) == []


def test_the_checks_catch_a_cycle_hidden_inside_a_function(toy_package):
    _write(
        toy_package,
        "model.py",
        "def from_preset(name):\n"
        "    from keras_siglip.presets import load\n\n"
        "    return load(name)\n",
    )
    (cycle,) = cycles(part_graph(toy_package))
    assert cycle == [
        "keras_siglip.model:2 imports keras_siglip.presets",
        "keras_siglip.presets.registry:1 imports keras_siglip.model",
    ]
    assert function_imports(toy_package) == [
        "keras_siglip.model:2 imports keras_siglip.presets inside a function"
    ]


def test_the_checks_catch_private_and_upward_imports(toy_package):
    _write(
        toy_package,
        "presets/registry.py",
        "from keras_siglip import __version__\nfrom keras_siglip.model import _secret, build\n",
    )
    _write(toy_package, "presets/__init__.py", "from keras_siglip.presets import registry\n")
    assert private_imports(toy_package) == [
        "keras_siglip.presets.registry:2 imports keras_siglip.model._secret"
    ]
    assert upward_imports(toy_package) == [
        "keras_siglip.presets.registry:1 imports __version__ from keras_siglip"
    ]
    # Relative imports resolve too.
    _write(toy_package, "presets/registry.py", "from ..model import _secret\n")
    assert private_imports(toy_package) == [
        "keras_siglip.presets.registry:1 imports keras_siglip.model._secret"
    ]
