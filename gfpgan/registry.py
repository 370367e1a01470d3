"""Registries that turn a YAML ``type:`` into a class or function.

Explicit by design: an object is known only if a module decorates it with ``register`` and that module is imported
by its package ``__init__`` (torch's optimizers are registered by name in gfpgan/optim.py). ``build(spec, where=...)``
checks every key of an option block against the constructor signature *before* anything is constructed (the checks
and the coercion of YAML values live with the options, in gfpgan/options.py), so a typo fails in milliseconds with the
option path and a suggestion.

``python -m gfpgan.registry`` lists every registered name with its signature.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

__all__ = [
    "ARCHS",
    "DATASETS",
    "LOSSES",
    "METRICS",
    "OPTIMIZERS",
    "SCHEDULERS",
    "OptionError",
    "Registry",
    "suggest",
]


class OptionError(ValueError):
    """A bad option value or key; the message names the option path and what to do."""


def suggest(name: str, known: Sequence[str]) -> str:
    """' Did you mean 'x'?' for the closest known names, or an empty string."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"


class Registry:
    """Name -> class/function map for one kind of object (archs, losses, datasets, metrics, optimizers, schedulers)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._objects: dict[str, Callable] = {}

    def register(self, name: str | None = None, aliases: Sequence[str] = ()) -> Callable[[Callable], Callable]:
        """Decorator: register the object under ``name`` (default: its ``__name__``) and optional aliases."""

        def decorator(obj: Callable) -> Callable:
            for key in (name or obj.__name__, *aliases):
                if key in self._objects:
                    other = self._objects[key]
                    raise KeyError(
                        f"{self.kind} {key!r} is registered twice: by {other.__module__}.{other.__qualname__} "
                        f"and by {obj.__module__}.{obj.__qualname__}. Rename one of them."
                    )
                self._objects[key] = obj
            return obj

        return decorator

    def get(self, name: str, where: str = "type") -> Callable:
        if name not in self._objects:
            raise OptionError(
                f"{where}: unknown {self.kind} {name!r}.{suggest(str(name), list(self._objects))} "
                f"Known {self.kind}s: {', '.join(sorted(self._objects)) or '(none registered)'}."
            )
        return self._objects[name]

    def check(self, spec: Mapping[str, Any], where: str, provided: Sequence[str] = ()) -> tuple[Callable, dict]:
        """Validate an option block ``{type: Name, **kwargs}`` without constructing anything.

        Returns the registered object and the checked, coerced keyword arguments (``options.check_kwargs``).
        """
        from gfpgan.options import check_kwargs  # the options module imports the registries: import at call time

        if not isinstance(spec, Mapping):
            raise OptionError(f"{where}: expected a mapping with a 'type' key, got {spec!r}")
        if "type" not in spec:
            raise OptionError(f"{where}: missing 'type' (one of: {', '.join(sorted(self._objects))}).")
        obj = self.get(spec["type"], where=f"{where}.type")
        kwargs = {k: v for k, v in spec.items() if k != "type"}
        if not inspect.isclass(obj):  # a function's remaining parameters are its call-time inputs (e.g. images)
            provided = tuple(provided) + tuple(inspect.signature(obj).parameters)
        return obj, check_kwargs(obj, kwargs, where, provided=provided)

    def build(self, spec: Mapping[str, Any], where: str, **provided: Any) -> Any:
        """Check ``spec`` and construct it; ``provided`` are keyword arguments the caller adds (e.g. a device).

        For a registered function (not a class) the checked keyword arguments are bound with functools.partial.
        """
        obj, kwargs = self.check(spec, where, provided=tuple(provided))
        if inspect.isclass(obj):
            return obj(**kwargs, **provided)
        return functools.partial(obj, **kwargs, **provided)

    def __contains__(self, name: object) -> bool:
        return name in self._objects

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._objects))

    def __len__(self) -> int:
        return len(self._objects)

    def names(self) -> list[str]:
        return sorted(self._objects)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"


ARCHS = Registry("arch")
LOSSES = Registry("loss")
DATASETS = Registry("dataset")
METRICS = Registry("metric")
OPTIMIZERS = Registry("optimizer")
SCHEDULERS = Registry("scheduler")


def _main() -> None:
    # Run as `python -m gfpgan.registry`, this file is a second module (__main__): list the package's registries.
    import gfpgan  # noqa: F401  (imports every module that registers something)
    from gfpgan import registry

    for title, reg in (("archs", registry.ARCHS), ("losses", registry.LOSSES), ("datasets", registry.DATASETS),
                       ("metrics", registry.METRICS), ("optimizers", registry.OPTIMIZERS),
                       ("schedulers", registry.SCHEDULERS)):  # fmt: skip
        print(f"{title} ({len(reg)}):")
        for name in reg:
            obj = reg.get(name)
            signature = inspect.signature(obj.__init__ if inspect.isclass(obj) else obj)
            params = [p for n, p in signature.parameters.items() if n != "self"]
            print(f"  {name}({', '.join(str(p) for p in params)})")


if __name__ == "__main__":
    _main()
