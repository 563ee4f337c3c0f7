# Strategy: a configuration error is one line naming the key, what it holds
# and what is allowed, read back from the setting's type (msgspec.inspect) so
# a range is written once, on the type. msgspec's ValidationError names the
# path ("- at `$.server.port`"); the path leads through the model to the
# field's annotation, whose bounds, Literal choices, pattern or description
# become the "allowed" part. A rule between two fields (OutOfRange, raised
# by a section's __post_init__) arrives as the error's cause. The model is a
# parameter, so this module knows no section of cardcore.config.
from __future__ import annotations

import functools
import re
from typing import Any

import msgspec
import msgspec.inspect as mi

from base.errors import CardcoreError

__all__ = [
    "ConfigError",
    "ConfigRangeError",
    "OutOfRange",
    "allowed_text",
    "describe",
    "format_number",
    "setting_type",
]


class ConfigError(CardcoreError):
    """Invalid configuration."""


class ConfigRangeError(ConfigError):
    """A setting of the right type with a value outside its allowed range."""

    def __init__(self, key: str, shown: str, allowed: str) -> None:
        super().__init__(f"configuration key '{key}' is {shown}; allowed: {allowed}")
        self.key = key
        self.shown = shown
        self.allowed = allowed


class OutOfRange(ValueError):
    """Raised by a section's ``__post_init__`` for a rule its types cannot say:
    ``name`` (an attribute) must not be below the attribute ``at_least``, or
    must be a power of two. msgspec turns it into a ValidationError at the
    section's path, with this as its cause."""

    def __init__(
        self,
        name: str,
        value: float,
        *,
        at_least: tuple[str, float] | None = None,
        power_of_two: bool = False,
    ) -> None:
        rule = f"at least {at_least[0]} ({at_least[1]})" if at_least else "a power of two"
        super().__init__(f"{name} is {value}; must be {rule}")
        self.name = name
        self.value = value
        self.at_least = at_least
        self.power_of_two = power_of_two


_AT = re.compile(r" - at `\$((?:\.[\w-]+|\[\d+\])*)`$")
_STEP = re.compile(r"\.([\w-]+)|\[(\d+)\]")
_Steps = list[str | int]  # keys and list indexes from the top of the configuration
# What a value of each constrained type is when only its range is wrong.
_PLAIN: dict[type[mi.Type], type | tuple[type, ...]] = {
    mi.IntType: int,
    mi.FloatType: (int, float),
    mi.StrType: str,
}


_PLAIN_TYPES = (mi.IntType, mi.FloatType, mi.StrType)


def describe(exc: msgspec.ValidationError, data: dict[str, Any], model: type) -> ConfigError:
    """The one-line error for a ValidationError msgspec raised converting
    ``data`` to ``model``."""
    text = str(exc)
    match = _AT.search(text)
    at = match.group(1) if match else ""
    path = at.lstrip(".")
    message = _AT.sub("", text)
    unknown = re.match(r"Object contains unknown field `([^`]+)`", message)
    if unknown:
        key = f"{path}.{unknown.group(1)}" if path else unknown.group(1)
        return ConfigError(f"unknown configuration key '{key}'")
    steps: _Steps = [int(index) if index else key for key, index in _STEP.findall(at)]
    if isinstance(exc.__cause__, OutOfRange):
        return _rule_error(steps, exc.__cause__, model)
    return _constraint_error(steps, data, model) or ConfigError(
        f"configuration key '{path or '(top level)'}': {message}"
    )


def _constraint_error(steps: _Steps, data: dict[str, Any], model: type) -> ConfigRangeError | None:
    """The range error for a value of the right type that its field's
    annotation refused; None when the type itself was wrong (msgspec's own
    message names the type)."""
    value: Any = data
    for step in steps:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return None
    field_type = _type_at(steps, model)
    choices = _choices(field_type)
    if choices and isinstance(value, str):
        allowed = ", ".join(choices[:-1]) + f" or {choices[-1]}"
        return ConfigRangeError(_key(steps), repr(value), allowed)
    kind = _constraints(field_type)[0]
    wanted = _PLAIN.get(type(kind))
    if wanted is None or isinstance(value, bool) or not isinstance(value, wanted):
        return None
    return ConfigRangeError(_key(steps), _shown(value, field_type), _allowed(field_type))


def _rule_error(steps: _Steps, rule: OutOfRange, model: type) -> ConfigRangeError:
    """The range error for a section's own rule (``steps`` lead to the section)."""
    fields = {f.name: f for f in getattr(_type_at(steps, model), "fields", ())}
    field_type = fields[rule.name].type
    lower, upper = _bounds(field_type)
    if rule.at_least is not None:
        name, floor = rule.at_least
        allowed = f"{_key([*steps, fields[name].encode_name])} ({_number(floor)}) to {upper}"
    else:
        allowed = f"a power of two from {lower} to {upper}"
    key = _key([*steps, fields[rule.name].encode_name])
    return ConfigRangeError(key, _shown(rule.value, field_type), allowed)


@functools.cache
def _model(model: type) -> mi.Type:
    return mi.type_info(model)


def _type_at(steps: _Steps, model: type) -> mi.Type:
    """The type of the configuration value at ``steps`` (an Optional unwrapped)."""
    current = _model(model)
    for step in steps:
        current = _unwrap(current)
        if isinstance(current, mi.ListType):
            current = current.item_type
        elif isinstance(current, mi.StructType):
            current = next(f.type for f in current.fields if f.encode_name == step)
    return _unwrap(current)


def _choices(t: mi.Type) -> list[str]:
    """The values a Literal (or a bool beside it) allows, as written in TOML."""
    members = t.types if isinstance(t, mi.UnionType) else (t,)
    words = ["true", "false"] if any(isinstance(m, mi.BoolType) for m in members) else []
    texts = [repr(v) for m in members if isinstance(m, mi.LiteralType) for v in m.values]
    return words + texts if texts else []


def _unwrap(t: mi.Type) -> mi.Type:
    """The type a setting holds: an Optional's other member, and anything but
    a number or a text without the metadata (the doc) around it; a number or
    a text keeps it, for the extras its range is written with."""
    if isinstance(t, mi.Metadata) and not isinstance(t.type, _PLAIN_TYPES):
        t = t.type
    if isinstance(t, mi.UnionType):
        inner = [u for u in t.types if not isinstance(u, mi.NoneType)]
        if len(inner) == 1:
            return inner[0]
    return t


def _constraints(t: mi.Type) -> tuple[mi.Type, dict[str, Any]]:
    """The constrained type and its annotation's extras (description, hex)."""
    t = _unwrap(t)
    if isinstance(t, mi.Metadata):
        return t.type, {**(t.extra_json_schema or {}), **(t.extra or {})}
    return t, {}


def _number(value: float, hex_digits: int | None = None) -> str:
    if hex_digits is not None and isinstance(value, int) and value >= 0:
        return f"0x{value:0{hex_digits}X}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _bounds(t: mi.Type) -> tuple[str, str]:
    """The lower and upper bound of a number's annotation, as words."""
    kind, extra = _constraints(t)
    digits = extra.get("hex")

    def bound(inclusive: str, exclusive: str, word: str) -> str:
        value = getattr(kind, inclusive, None)
        if value is not None:
            return _number(value, digits)
        value = getattr(kind, exclusive, None)
        return "" if value is None else f"{word} {_number(value, digits)}"

    return bound("ge", "gt", "more than"), bound("le", "lt", "less than")


def _allowed(t: mi.Type) -> str:
    kind, extra = _constraints(t)
    if "description" in extra:
        return str(extra["description"])
    if isinstance(kind, mi.StrType):
        return f"text matching {kind.pattern}"
    lower, upper = _bounds(t)
    if lower and upper:
        return f"{lower} to {upper}"
    return f"{lower} or more" if lower else f"up to {upper}"


def setting_type(t: mi.Type) -> mi.Type:
    """The type a setting of declared type ``t`` holds (see _unwrap)."""
    return _unwrap(t)


def allowed_text(t: mi.Type) -> str | None:
    """What a setting of type ``t`` allows, in the words of its range error;
    None where the type says it all (a boolean, free text, a list)."""
    t = _unwrap(t)
    choices = _choices(t)
    if choices:
        return ", ".join(choices[:-1]) + f" or {choices[-1]}"
    kind, extra = _constraints(t)
    bounded = isinstance(kind, mi.IntType | mi.FloatType) and any(_bounds(t))
    patterned = isinstance(kind, mi.StrType) and (kind.pattern or "description" in extra)
    return _allowed(t) if bounded or patterned else None


def format_number(value: float, t: mi.Type) -> str:
    """A number as its setting is written (hex where the type says so)."""
    return _number(value, _constraints(t)[1].get("hex"))


def _shown(value: Any, t: mi.Type) -> str:
    if isinstance(value, str):
        return repr(value)
    return _number(value, _constraints(t)[1].get("hex"))


def _key(steps: _Steps) -> str:
    return "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps).lstrip(".")
