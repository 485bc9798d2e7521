"""Which repository files a Python entry point imports (standard library only).

Read from the source with `ast`, never by importing it: module-level and function-level imports alike, so a
lazy import counts as much as one at the top of a file. Only first-party modules are followed; a module is
first-party when it resolves to a file under one of the search roots (the repository root, and for a Cloud
Function its own folder, which is the root of its deployed source).

The routing test checks every closure against the routing table, and the image step hashes the image's
closure as the image's identity, so both follow the imports instead of a hand-kept list.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path


def module_file(name: str, roots: Sequence[Path]) -> Path | None:
    """The file a dotted module name resolves to under the first root that has it, or None (not ours)."""
    parts = name.split(".")
    for root in roots:
        base = root.joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate.resolve()
    return None


def _package_inits(file: Path, roots: Sequence[Path]) -> list[Path]:
    """The __init__.py of every package that contains `file` (Python runs them all on import)."""
    inits = []
    for root in roots:
        root = root.resolve()
        if root not in file.parents:
            continue
        folder = file.parent
        while folder != root:
            init = folder / "__init__.py"
            if init.is_file() and init != file:
                inits.append(init)
            folder = folder.parent
        break
    return inits


def _module_name(file: Path, roots: Sequence[Path]) -> str | None:
    for root in roots:
        root = root.resolve()
        if root in file.parents:
            rel = file.relative_to(root).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            return ".".join(parts)
    return None


@lru_cache(maxsize=4096)
def _imported_names(file: Path) -> tuple[tuple[str, tuple[str, ...], int], ...]:
    """(module, imported names, relative level) for every import statement in the file."""
    tree = ast.parse(file.read_text(), filename=str(file))
    found: list[tuple[str, tuple[str, ...], int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, (), 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", tuple(alias.name for alias in node.names), node.level))
    return tuple(found)


def direct_imports(file: Path, roots: Sequence[Path]) -> set[Path]:
    """The first-party files `file` imports directly (a `from pkg import name` counts pkg.name if a module)."""
    file = file.resolve()
    own = _module_name(file, roots) or ""
    package = own if file.name == "__init__.py" else own.rpartition(".")[0]
    result: set[Path] = set()
    for module, names, level in _imported_names(file):
        if level:
            anchor = package.split(".") if package else []
            anchor = anchor[: len(anchor) - (level - 1)] if level > 1 else anchor
            module = ".".join([*anchor, module] if module else anchor)
        targets = [module] if module else []
        targets += [f"{module}.{name}" if module else name for name in names if name != "*"]
        for target in targets:
            resolved = module_file(target, roots)
            if resolved is not None:
                result.add(resolved)
                result.update(_package_inits(resolved, roots))
    result.discard(file)
    return result


def closure(entry_points: Iterable[Path], roots: Sequence[Path], stop_at: Sequence[Path] = ()) -> set[Path]:
    """Every first-party file the entry points import, transitively, the entry points included.

    A file under a `stop_at` folder is part of the closure, but what it imports is not followed (the trigger
    function's zip reaches localcloud/ only lazily, from its local backend, and does not ship it).
    """
    roots = [root.resolve() for root in roots]
    stops = [folder.resolve() for folder in stop_at]
    pending = [path.resolve() for path in entry_points]
    seen: set[Path] = set()
    while pending:
        file = pending.pop()
        if file in seen:
            continue
        seen.add(file)
        if any(folder in file.parents for folder in stops):
            continue
        for init in _package_inits(file, roots):
            pending.append(init)
        pending.extend(direct_imports(file, roots) - seen)
    return seen


def relative(files: Iterable[Path], root: Path) -> list[str]:
    """Repository-relative POSIX paths, sorted (files outside `root` are left out)."""
    root = root.resolve()
    return sorted(path.relative_to(root).as_posix() for path in files if root in path.parents)
