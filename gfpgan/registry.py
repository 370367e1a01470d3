"""Registries that turn a YAML ``type:`` into a class or function.

Explicit by design: an object is known only if a module decorates it with ``register`` and that module is imported
by its package ``__init__``. ``build(spec, where=...)`` checks every key of an option block against the constructor
signature *before* anything is constructed, so a typo fails in milliseconds with the option path and a suggestion.

``python -m gfpgan.registry`` lists every registered name with its signature.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

__all__ = ["ARCHS", "DATASETS", "LOSSES", "METRICS", "OptionError", "Registry", "check_kwargs", "coerce", "suggest"]


class OptionError(ValueError):
    """A bad option value or key; the message names the option path and what to do."""


def suggest(name: str, known: Sequence[str]) -> str:
    """' Did you mean 'x'?' for the closest known names, or an empty string."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"


# ----------------------------------------------------------------------------------------------------------------------
# Value coercion by annotation


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def coerce(value: Any, annotation: Any, where: str) -> Any:
    """Return ``value`` converted to ``annotation`` where that is unambiguous, else raise OptionError.

    Scalar strings are parsed where the annotation asks for a number (YAML 1.1 reads ``2e-3`` as a string), lists
    become tuples for tuple annotations, and Literal/Optional/Union annotations are checked. Unannotated parameters
    and ``Any`` pass through unchanged.
    """
    if annotation is inspect.Parameter.empty or annotation is Any:
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)

    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        errors = []
        # Try the exact-type member first so that e.g. `int | str` keeps a str a str.
        for arg in sorted((a for a in args if a is not type(None)), key=lambda a: not _is_instance(value, a)):
            try:
                return coerce(value, arg, where)
            except OptionError as e:
                errors.append(str(e))
        raise OptionError(f"{where}: {value!r} is not a valid {_type_name(annotation)}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise OptionError(
            f"{where}: {value!r} is not one of {list(args)}.{suggest(str(value), [str(a) for a in args])}"
        )
    if annotation is type(None):
        if value is None:
            return None
        raise OptionError(f"{where}: expected null (~), got {value!r}")
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise OptionError(f"{where}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise OptionError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)  # `!!float 5e3` for an iteration count
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
            else:
                if number.is_integer():
                    return int(number)
        raise OptionError(f"{where}: expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, bool):
            raise OptionError(f"{where}: expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise OptionError(f"{where}: expected a number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise OptionError(f"{where}: expected a string, got {value!r}")
    if origin in (list, tuple, Sequence, typing.Sequence) or annotation in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise OptionError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise OptionError(f"{where}: expected {len(args)} values, got {len(value)} ({value!r})")
            return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        items = [coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or annotation is tuple else items
    if origin in (dict, Mapping, typing.Mapping) or annotation is dict:
        if not isinstance(value, Mapping):
            raise OptionError(f"{where}: expected a mapping, got {value!r}")
        if len(args) == 2:
            return {k: coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
        return dict(value)
    return value


def _is_instance(value: Any, annotation: Any) -> bool:
    try:
        return isinstance(value, annotation)
    except TypeError:
        return False


# ----------------------------------------------------------------------------------------------------------------------
# Signature checks


def _signature(obj: Callable) -> tuple[inspect.Signature, dict[str, Any]]:
    target = obj.__init__ if inspect.isclass(obj) else obj
    signature = inspect.signature(target)
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolvable forward references: fall back to no coercion
        hints = {}
    return signature, hints


def check_kwargs(obj: Callable, kwargs: Mapping[str, Any], where: str, provided: Sequence[str] = ()) -> dict[str, Any]:
    """Check ``kwargs`` against ``obj``'s signature (a class's ``__init__``) and coerce them by annotation.

    Args:
        obj: the class or function the keyword arguments are for.
        kwargs: option values, usually one YAML block without its ``type`` key.
        where: the option path used in error messages, e.g. ``"network_g"``.
        provided: parameter names the caller passes itself (not required from the options).
    Returns:
        The coerced keyword arguments.
    """
    signature, hints = _signature(obj)
    params = {n: p for n, p in signature.parameters.items() if n != "self"}
    accepts_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    named = {
        n: p
        for n, p in params.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    label = getattr(obj, "__name__", repr(obj))
    out = {}
    for key, value in kwargs.items():
        if key not in named and not accepts_var_kw:
            raise OptionError(
                f"{where}.{key}: unknown option for {label}.{suggest(str(key), list(named))} "
                f"Known options: {', '.join(named) or '(none)'}."
            )
        out[key] = coerce(value, hints.get(key, inspect.Parameter.empty), f"{where}.{key}")
    missing = [
        n for n, p in named.items() if p.default is inspect.Parameter.empty and n not in out and n not in provided
    ]
    if missing:
        raise OptionError(f"{where}: missing required option(s) {', '.join(missing)} for {label}{signature}.")
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Registry


class Registry:
    """Name -> class/function map for one kind of object (archs, losses, datasets, metrics)."""

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
        """Validate an option block ``{type: Name, **kwargs}`` without constructing anything."""
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


def _main() -> None:
    # Run as `python -m gfpgan.registry`, this file is a second module (__main__): list the package's registries.
    import gfpgan  # noqa: F401  (imports every module that registers something)
    from gfpgan import registry

    for title, reg in (("archs", registry.ARCHS), ("losses", registry.LOSSES), ("datasets", registry.DATASETS),
                       ("metrics", registry.METRICS)):  # fmt: skip
        print(f"{title} ({len(reg)}):")
        for name in reg:
            signature, _ = _signature(reg._objects[name])
            params = [p for n, p in signature.parameters.items() if n != "self"]
            print(f"  {name}({', '.join(str(p) for p in params)})")


if __name__ == "__main__":
    _main()
