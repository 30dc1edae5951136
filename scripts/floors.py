"""setup.py's minimums as exact pins, for the floor job (scripts/floor.sh): `core` (install_requires) or `extras`
(every extra's), each `name>=X` printed as `name==X`."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

SETUP = ast.parse((Path(__file__).resolve().parent.parent / "setup.py").read_text())


def literal(name: str) -> object:
    """The literal given to setup()'s keyword `name`, or assigned to the module-level `name`."""
    for node in ast.walk(SETUP):
        if isinstance(node, ast.keyword) and node.arg == name:
            return ast.literal_eval(node.value)
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise LookupError(name)


def pins(kind: str) -> list[str]:
    core: list[str] = literal("install_requires")  # type: ignore[assignment]
    extras: dict[str, list[str]] = literal("EXTRAS")  # type: ignore[assignment]
    wanted = core if kind == "core" else [r for rs in extras.values() for r in rs]
    return [re.sub(r">=([^,]+).*", r"==\1", requirement) for requirement in wanted]


if __name__ == "__main__":
    print("\n".join(pins(sys.argv[1])))
