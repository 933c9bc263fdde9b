"""Generic loading of nested config dataclasses from TOML, environment and overrides.

Precedence (later wins): dataclass defaults < TOML file < ``LIVEPARK_<SECTION>_<FIELD>``
environment variables < explicit overrides (command-line flags).  Unknown keys are errors,
so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from livepark.errors import LiveparkError

T = TypeVar("T")


class ConfigError(LiveparkError):
    """The configuration is invalid."""

    code = "config_error"


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or value == "":
            return None
        return _coerce(value, args[0], where)
    if origin is tuple:
        (inner, *_rest) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list")
        return tuple(_coerce(v, inner, where) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected a boolean, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer")
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from exc
    if tp is float:
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: expected a number, got {value!r}") from exc
    if tp is str:
        if not isinstance(value, str | int | float):
            raise ConfigError(f"{where}: expected a string")
        return str(value)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table")
        return build(tp, value, where)
    return value


def build(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from a (possibly partial) mapping, validating types."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"unknown setting(s) {sorted(unknown)} in [{where or 'root'}]")
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        kwargs[key] = _coerce(value, hints[key], path)
    return _checked(lambda: cls(**kwargs), where)


def _checked(make: Callable[[], T], where: str) -> T:
    """Run a dataclass constructor; its ``__post_init__`` ``ValueError`` becomes a
    :class:`ConfigError` naming the section (``[danmaku]: batch_window must be positive``)."""
    try:
        return make()
    except ValueError as exc:
        raise ConfigError(f"[{where or 'root'}]: {exc}") from exc


def merge(base: Any, overrides: Mapping[str, Any], where: str = "") -> Any:
    """Return a copy of dataclass ``base`` with nested ``overrides`` applied."""
    hints = typing.get_type_hints(type(base))
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        path = f"{where}.{key}" if where else key
        if key not in hints:
            raise ConfigError(f"unknown setting {path}")
        current = getattr(base, key)
        if dataclasses.is_dataclass(current) and isinstance(value, Mapping):
            changes[key] = merge(current, value, path)
        else:
            changes[key] = _coerce(value, hints[key], path)
    return _checked(lambda: dataclasses.replace(base, **changes), where)


def env_overrides(cls: type, environ: Mapping[str, str], prefix: str = "LIVEPARK") -> dict[str, Any]:
    """Collect ``LIVEPARK_SECTION_FIELD`` variables into a nested mapping; a variable under a
    known section's prefix that names no field is a :class:`ConfigError`."""
    out: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for section, tp in hints.items():
        if not (dataclasses.is_dataclass(tp) and isinstance(tp, type)):
            var = f"{prefix}_{section}".upper()
            if var in environ:
                out[section] = environ[var]
            continue
        names = {f.name for f in dataclasses.fields(tp)}
        head = f"{prefix}_{section}_".upper()
        for var, value in environ.items():
            if not var.startswith(head):
                continue
            key = var[len(head) :].lower()
            if key not in names:
                # A typo must not fall back to the default silently (as in TOML).
                raise ConfigError(f"unknown setting {var}: [{section}] has no {key!r}")
            out.setdefault(section, {})[key] = value
    return out


def _is_secret_name(name: str, secret_words: tuple[str, ...]) -> bool:
    """``admin_key``, ``secret``, ``credential``: yes; ``keyframe_interval`` (a word that only
    contains "key") and ``secret_file`` (a path, not the secret): no."""
    words = name.lower().split("_")
    return any(w in secret_words for w in words) and words[-1] not in ("file", "path", "dir")


def masked(obj: Any, secret_words: tuple[str, ...] = ("secret", "password", "credential", "key")) -> Any:
    """A JSON-able view of a config dataclass with secrets replaced by ``***``."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        result = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if _is_secret_name(f.name, secret_words) and value:
                result[f.name] = "***"
            else:
                result[f.name] = masked(value, secret_words)
        return result
    if isinstance(obj, tuple | list):
        return [masked(v, secret_words) for v in obj]
    return obj
