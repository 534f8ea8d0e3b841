"""aiogram's Telegram types and methods, built when first used instead of all at import.

Importing aiogram builds a pydantic validator and serializer for each of its ~330 types
and ~170 methods: `aiogram.types` ends by calling `model_rebuild()` on every type (with a
namespace of every type's name, so their forward references resolve), and the methods'
base class does not defer building, so each method builds its own at class creation.
A bot uses a few of them (an Update's validator includes every type it nests): the rest
cost ≈ 105 MB of RSS and 5 of the 7–9 s `import bot.app` took on this shared 2-core
machine (`python -X importtime`; the echo bot of tests/bench pays them too). The types
already say `defer_build=True`; only that loop builds them.

`load()` imports aiogram with that loop skipped and the same namespace put into each
type's module instead (a name a module already has is kept; none differs), and with the
methods' base class deferring too. Each model then builds itself, from the same names,
the first time it validates or serialises (a method the first time the bot calls it:
tens of ms, once). tests/test_lazy_types.py checks the schemas equal aiogram's own.
Called before anything imports aiogram (bot/__init__.py); once aiogram is imported it
does nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

METHODS_BASE = "aiogram.methods.base"


class _DeferMethods(importlib.abc.MetaPathFinder):
    """Finds aiogram.methods.base as usual, and sets `defer_build` on TelegramMethod's
    config right after the module ran, before any method class is created."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != METHODS_BASE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def run(module: ModuleType) -> None:
            exec_module(module)
            module.TelegramMethod.model_config["defer_build"] = True

        spec.loader.exec_module = run  # type: ignore[method-assign]
        return spec


def load() -> None:
    if "aiogram" in sys.modules:
        return
    from pydantic import BaseModel

    rebuild = BaseModel.__dict__["model_rebuild"]  # the classmethod itself

    def deferred(cls: type[BaseModel], *, force: bool = False, raise_errors: bool = True,
                 _parent_namespace_depth: int = 2,
                 _types_namespace: dict[str, Any] | None = None) -> bool | None:
        if (_types_namespace is not None and not force
                and cls.__module__.startswith("aiogram.types.")):
            module = vars(sys.modules[cls.__module__])
            for name, value in _types_namespace.items():
                module.setdefault(name, value)
            return None
        return rebuild.__func__(cls, force=force, raise_errors=raise_errors,
                                _parent_namespace_depth=_parent_namespace_depth,
                                _types_namespace=_types_namespace)

    finder = _DeferMethods()
    sys.meta_path.insert(0, finder)
    BaseModel.model_rebuild = classmethod(deferred)  # type: ignore[assignment,method-assign]
    try:
        import aiogram  # noqa: F401  (imports its types and methods)
    finally:
        BaseModel.model_rebuild = rebuild  # type: ignore[method-assign]
        sys.meta_path.remove(finder)
