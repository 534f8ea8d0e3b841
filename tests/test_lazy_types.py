"""bot/lazy_types.py builds aiogram's models when first used: every type's and method's
pydantic schema must be the one aiogram builds itself.

Two processes print a digest of each model's core schema: one imports aiogram alone
(aiogram builds everything at import), the other imports `bot` first (lazy; each model
is built here, on demand). Pydantic may inline a nested model in one and refer to it by
definition in the other, depending on what was built first; the digest therefore takes
each model's own schema with nested models named, not expanded (every model is compared,
so nested ones are covered by their own digest).

    python -m tests.test_lazy_types eager|lazy   prints {model: digest} as JSON
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]  # not tests.conftest: it imports bot

SKIP = ("ref", "metadata", "definitions")


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def canonical(cls: Any) -> Any:
    """The model's core schema: definition references resolved, nested models by name."""
    defs: dict[str, Any] = {}

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if "ref" in node:
                defs[node["ref"]] = node
            for value in node.values():
                collect(value)
        elif isinstance(node, list | tuple):
            for value in node:
                collect(value)

    root = cls.__pydantic_core_schema__
    collect(root)
    stack: list[str] = []

    def walk(node: Any, top: bool) -> Any:
        if isinstance(node, dict):
            kind = node.get("type")
            if kind == "definitions":
                return walk(node["schema"], top)
            if kind == "definition-ref":
                target = defs[node["schema_ref"]]
                if target.get("type") == "model" and not top:
                    return "model " + _name(target["cls"])
                ref = re.sub(r":\d+$", "", node["schema_ref"])
                if ref in stack:
                    return "recursive " + ref
                stack.append(ref)
                try:
                    return walk(target, top)
                finally:
                    stack.pop()
            if kind == "model" and not top:
                return "model " + _name(node["cls"])
            return {k: walk(v, False) for k, v in node.items() if k not in SKIP}
        if isinstance(node, list | tuple):
            return [walk(v, False) for v in node]
        if isinstance(node, type):
            return _name(node)
        return re.sub(r" at 0x[0-9a-f]+", "", repr(node))

    return walk(root, True)


def digests() -> dict[str, str]:
    import aiogram.methods
    import aiogram.types

    found = {}
    for module in (aiogram.types, aiogram.methods):
        for attr in module.__all__:
            cls = getattr(module, attr)
            if isinstance(cls, type) and hasattr(cls, "__pydantic_fields__"):
                cls.model_rebuild()  # lazy: built now; eager: already built, no-op
                text = json.dumps(canonical(cls), sort_keys=True, default=str)
                found[_name(cls)] = hashlib.sha1(text.encode()).hexdigest()
    return found


def _run(mode: str) -> dict[str, str]:
    out = subprocess.run([sys.executable, "-m", "tests.test_lazy_types", mode], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    result: dict[str, str] = json.loads(out)
    return result


def test_lazily_built_models_have_aiograms_own_schemas() -> None:
    eager, lazy = _run("eager"), _run("lazy")
    assert len(eager) > 500  # every type and method
    assert lazy == eager


def test_importing_bot_leaves_aiogram_models_unbuilt() -> None:
    code = ("import bot, aiogram.types as T, aiogram.methods as M; "
            "print(T.Message.__pydantic_complete__, M.SendMessage.__pydantic_complete__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    assert out.split() == ["False", "False"]


if __name__ == "__main__":
    if sys.argv[1] == "lazy":
        import bot  # noqa: F401  (bot/lazy_types.py)
    print(json.dumps(digests()))
