# Strategy: the configuration as a document, written from the one typed model
# (cardcore.config): `cardcore config show` prints the effective settings as
# TOML — every key with its value and a comment of its description (the
# `doc` on its type) and allowed range (the range on its type) — and the
# README's configuration reference is the same rendering of the defaults, so
# neither can drift from the model (a test holds the README to it). The
# output is valid TOML that loads back to the same configuration: a setting
# without a value, and a secret one, is a commented-out line. Sections come
# in the model's order; in a section, plain keys first, then its arrays of
# tables (TOML puts a key after a table header into that table).
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi

from cardcore.config import (
    Config,
    ConfigError,
    allowed_text,
    build_config,
    format_number,
    load_config_data,
    setting_type,
)

__all__ = [
    "README_BEGIN",
    "README_END",
    "check_config",
    "readme_reference",
    "show_config",
    "update_readme",
]

COMMENT_AT = 40  # the column comments start at, when the value leaves room
README_BEGIN = "<!-- configuration reference: generated from cardcore/config.py, `make readme` -->"
README_END = "<!-- end of the configuration reference -->"


@dataclass(frozen=True)
class _Setting:
    key: str  # as written in the file (kebab-case)
    name: str  # the attribute
    type: mi.Type  # the declared type, doc included
    held: mi.Type  # the type of the value (an Optional's other member)
    required: bool

    @property
    def extra(self) -> dict[str, Any]:
        extra = self.type.extra if isinstance(self.type, mi.Metadata) else None
        return dict(extra or {})

    @property
    def comment(self) -> str:
        text = str(self.extra.get("doc", ""))
        allowed = allowed_text(self.type)
        return f"{text} [{allowed}]" if allowed else text


def settings(struct: type[msgspec.Struct]) -> list[_Setting]:
    """The settings of a section, in the model's order."""
    info = mi.type_info(struct)
    assert isinstance(info, mi.StructType)
    return [
        _Setting(f.encode_name, f.name, f.type, setting_type(f.type), f.required)
        for f in info.fields
    ]


def _table_of(t: mi.Type) -> type[msgspec.Struct] | None:
    return t.cls if isinstance(t, mi.StructType) else None


def _array_of_tables(t: mi.Type) -> type[msgspec.Struct] | None:
    if isinstance(t, mi.ListType):
        return _table_of(setting_type(t.item_type))
    return None


def _scalar(value: Any, t: mi.Type) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(value, t)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, list):
        item = t.item_type if isinstance(t, mi.ListType) else t
        return "[" + ", ".join(_scalar(v, item) for v in value) + "]"
    if isinstance(value, msgspec.Struct):
        parts = [
            f"{s.key} = {_scalar(getattr(value, s.name), s.held)}"
            for s in settings(type(value))
            if getattr(value, s.name) is not None
        ]
        return "{ " + ", ".join(parts) + " }"
    raise TypeError(f"no TOML for {value!r}")


# Where each value came from (cardcore.configsources), by dotted key; None
# when the rendering is not of a terminal's configuration (the reference).
Sources = dict[str, str] | None


def _source(sources: Sources, key: str) -> str:
    """``key``'s layer, as a comment's lead ("server: "); a table or list
    shown as one value came from the highest layer that set any of it."""
    if sources is None:
        return ""
    found = {s for k, s in sources.items() if k == key or k.startswith(f"{key}.")}
    for layer in ("server", "file", "default"):
        if layer in found:
            return f"{layer}: "
    return ""


def _line(assignment: str, comment: str) -> str:
    if not comment:
        return assignment
    return f"{assignment.ljust(COMMENT_AT - 2)}  # {comment}"


def _entries(
    path: str, value: msgspec.Struct | None, struct: type[msgspec.Struct], *, template: bool,
    sources: Sources = None,
) -> Iterator[str]:  # fmt: skip
    """A table's plain keys. ``value`` None: the section is not set — every
    key commented out, with its default where it has one."""
    for s in settings(struct):
        comment = _source(sources, f"{path}.{s.key}") + s.comment
        if _array_of_tables(s.held) is not None:
            items = [] if value is None else getattr(value, s.name)
            if not items and not template:
                yield _line(f"{s.key} = []", comment)
            continue
        if value is None:
            default = _default(struct, s)
            shown = "(required)" if s.required else _shown(default, s)
            yield _line(f"# {s.key} = {shown}", comment)
            continue
        current = getattr(value, s.name)
        if s.extra.get("secret") and current is not None:
            yield _line(f"# {s.key} = (set, not shown)", comment)
        elif current is None:
            yield _line(f"# {s.key} = (not set)", comment)
        else:
            yield _line(f"{s.key} = {_scalar(current, s.held)}", comment)


def _default(struct: type[msgspec.Struct], s: _Setting) -> Any:
    info = mi.type_info(struct)
    assert isinstance(info, mi.StructType)
    field = next(f for f in info.fields if f.name == s.name)
    if field.default_factory is not msgspec.NODEFAULT:
        return field.default_factory()
    return None if field.default is msgspec.NODEFAULT else field.default


def _shown(value: Any, s: _Setting) -> str:
    return "(not set)" if value is None else _scalar(value, s.held)


def _tables(
    path: str, value: msgspec.Struct | None, struct: type[msgspec.Struct], comment: str, *,
    template: bool, sources: Sources = None,
) -> Iterator[str]:  # fmt: skip
    """A table and its arrays of tables. With ``template`` (the reference) an
    array of tables shows one entry of the element's defaults instead of its
    items."""
    header = f"[{path}]" if value is not None else f"# [{path}]"
    yield ""
    yield _line(header, comment)
    yield from _entries(path, value, struct, template=template, sources=sources)
    for s in settings(struct):
        element = _array_of_tables(s.held)
        if element is None:
            continue
        items: list[Any] = [] if value is None else list(getattr(value, s.name))
        if template:
            note = f"{s.comment}; one table each" + (f" ({len(items)} by default)" if items else "")
            yield ""
            yield _line(f"# [[{path}.{s.key}]]", note)
            yield from _entries(f"{path}.{s.key}", None, element, template=True)
            continue
        # A list is one value (the layers replace it whole): its source is on each header.
        lead = _source(sources, f"{path}.{s.key}")
        for item in items:
            yield ""
            yield _line(f"[[{path}.{s.key}]]", lead + s.comment)
            yield from _entries(f"{path}.{s.key}", item, element, template=False)


def render(
    config: Config, heading: list[str], *, template: bool = False, sources: Sources = None
) -> str:
    lines = [f"# {text}" if text else "#" for text in heading]
    for s in settings(Config):
        struct = _table_of(s.held)
        assert struct is not None, s.key
        value = getattr(config, s.name)
        lines += _tables(s.key, value, struct, s.comment, template=template, sources=sources)
    return "\n".join(lines) + "\n"


def show_config(source: Path | None, data_dir: Path) -> str:
    """The configuration `cardcore serve --config source --data-dir data_dir`
    runs with, as TOML, each comment led by the layer its value came from
    (default, file or server: cardcore.configsources); ConfigError when it
    is not valid."""
    from cardcore.configsources import effective_config

    settings_ = effective_config(source, data_dir)
    config = build_config(_unflatten({k: s.value for k, s in settings_.items()}))
    where = f"the embedded defaults, then {source}" if source else "the embedded defaults"
    return render(
        config,
        [
            f"cardcore configuration: {where}, then what the management server provisioned",
            f"into {data_dir} (updateconfiguration), which wins over the file key by key.",
            "Each comment starts with where its value came from: default, file or server.",
            "Keys shown commented out are not set. Simulator mode fills in its simulated",
            "parties (hosts, the SBP agent) where these leave them unset.",
        ],
        sources={k: s.source for k, s in settings_.items()},
    )


def _unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        *tables, name = key.split(".")
        table = nested
        for part in tables:
            table = table.setdefault(part, {})
        table[name] = value
    return nested


def check_config(path: Path) -> None:
    """Validate a configuration file as `cardcore serve --config` does
    (ConfigError with the one-line reason)."""
    build_config(load_config_data(path))


def readme_reference() -> str:
    """The README's configuration reference: the defaults, every key."""
    body = render(
        Config(),
        [
            "Every setting, its default and what it allows (`cardcore config show`",
            "prints the effective ones). Commented out: not set by default.",
        ],
        template=True,
    )
    return f"{README_BEGIN}\n```toml\n{body}```\n{README_END}"


_BLOCK = re.compile(re.escape(README_BEGIN) + ".*?" + re.escape(README_END), re.DOTALL)


def update_readme(path: Path = Path("README.md")) -> bool:
    """Write the current reference into the README; True when it changed."""
    text = path.read_text(encoding="utf-8")
    if not _BLOCK.search(text):
        raise ConfigError(f"{path} has no configuration reference block")
    updated = _BLOCK.sub(lambda _: readme_reference(), text)
    if updated != text:
        path.write_text(updated, encoding="utf-8")
    return updated != text
