"""Wire fields declared once: each message dataclass field carries its reader and writer.

``wire()`` and ``wire_array()`` return ``dataclasses.field``s whose metadata holds a
``WireSpec``. ``compile_wire`` turns a message class's specs into its encoder and decoder
once, when the class is registered: like ``dataclasses`` does for ``__init__``, it writes
the two functions out as source, so encoding and decoding make the same calls a
hand-written codec would, with no reflection or per-field dispatch per message.

A field travels under its own name. The encoded map lists the fields in the class's
``WIRE_ORDER`` (default: field order); decoding reads them in that order too, except that
``early`` fields are read first (their errors win when several fields are bad).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Mapping

import numpy as np

from facecast.protocol.arrays import pack_array, unpack_array
from facecast.protocol.errors import ErrorCode, ProtocolError, shown

_META = "wire"
_UNSET: Any = dataclasses.MISSING


@dataclass(frozen=True)
class WireSpec:
    """How one dataclass field travels; kept in the field's metadata under "wire"."""

    read: Callable[..., Any]  # read(d, key, **read_options) -> value; raises ProtocolError
    read_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    write: Callable[..., Any] | None = None  # write(value, **write_options) -> wire value; None: as is
    write_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    optional: bool = False  # absent or nil decodes to None; None is left out of the encoded map
    when: Callable[[Any], bool] | None = None  # encode only when this holds for the message (overrides optional)
    early: bool = False  # decoded before the other fields
    one_of: str | None = None  # exactly one field of this group is present (checked before the first is read)
    only_with: str | None = None  # decoded only when that field is present, else None
    format_attr: str | None = None  # non-wire field that takes the array's "format" (both ways)


def wire(
    read: Callable[..., Any],
    *,
    default: Any = _UNSET,
    missing: Any = _UNSET,
    optional: bool = False,
    write: Callable[[Any], Any] | None = None,
    when: Callable[[Any], bool] | None = None,
    early: bool = False,
    **options: Any,
) -> Any:
    """A field read by a fields.py reader, ``read(d, key, default=..., **options)``.

    ``default`` is the field's default and what an absent key decodes to (a list or dict is
    copied per instance); ``missing`` is a decode-only default (the constructor still needs the
    value). ``optional`` fields default to None, decode to None when absent or nil and are left
    out of the encoded map when None. ``write`` converts the value for the wire (e.g. ``list``).
    """
    decode_default = default if missing is _UNSET else missing
    if decode_default is not _UNSET:
        options["default"] = decode_default
    spec = WireSpec(read=read, read_options=options, write=write, optional=optional, when=when, early=early)
    return _field(spec, None if optional else default)


def wire_array(
    shape: tuple[int, ...] | None = None,
    *,
    format: str | None = None,
    formats: Mapping[str, tuple[int, ...]] | None = None,
    format_attr: str | None = None,
    one_of: str | None = None,
    only_with: str | None = None,
) -> Any:
    """A float32 point array (arrays.py's wire map) of ``shape``; a missing one is BAD_ARRAY.

    ``format`` is written into the map (and not checked when read). With ``formats`` and
    ``format_attr`` instead of a shape, the map's "format" names the shape (one of
    ``formats``) and is kept in the (non-wire) field ``format_attr``, which the encoder writes
    back. ``one_of`` groups optional arrays of which exactly one is present; ``only_with``
    makes an optional array that is read only when that other field is present.
    """
    if (formats is None) != (format_attr is None) or (formats is None) == (shape is None):
        raise TypeError("wire_array takes a shape, or formats with format_attr")
    optional = one_of is not None or only_with is not None
    if formats is not None:
        read, read_options = _read_formatted_array, {"formats": formats}
    else:
        read, read_options = _read_array, {"shape": shape}
    spec = WireSpec(read=read, read_options=read_options, write=pack_array,
                    write_options={} if format is None else {"format": format}, optional=optional,
                    one_of=one_of, only_with=only_with, format_attr=format_attr)
    return _field(spec, None if optional else _UNSET)


def _field(spec: WireSpec, default: Any) -> Any:
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=partial(copy.copy, default), metadata={_META: spec})
    return dataclasses.field(default=default, metadata={_META: spec})


def _read_array(d: Mapping[str, Any], key: str, shape: tuple[int, ...]) -> np.ndarray:
    return unpack_array(key, d.get(key), shape)


def _read_formatted_array(d: Mapping[str, Any], key: str, formats: Mapping[str, tuple[int, ...]]) -> np.ndarray:
    wire_map = d.get(key)
    fmt = wire_map.get("format") if isinstance(wire_map, dict) else None
    if not isinstance(fmt, str) or fmt not in formats:  # a list/map would be unhashable
        raise ProtocolError(ErrorCode.BAD_ARRAY, f"{key}.format {shown(fmt)} unknown; one of {list(formats)}")
    return unpack_array(key, wire_map, formats[fmt])


def _not_one_of(keys: tuple[str, ...], what: str) -> ProtocolError:
    names = " or ".join(repr(k) for k in keys)
    return ProtocolError(ErrorCode.INVALID_FIELD, f"a {what} carries exactly one of {names}")


# ---------------------------------------------------------------------------- code generation


class _Source:
    """Lines of one generated function and the objects its code refers to by name."""

    def __init__(self, header: str) -> None:
        self.lines = [header]
        self.scope: dict[str, Any] = {}

    def ref(self, value: Any) -> str:
        name = f"_{len(self.scope)}"
        self.scope[name] = value
        return name

    def call(self, fn: Callable[..., Any], args: str, options: Mapping[str, Any], extra: str = "") -> str:
        return f"{self.ref(fn)}({args}{''.join(f', {k}={self.ref(v)}' for k, v in options.items())}{extra})"

    def build(self, cls: type, name: str) -> Callable[..., Any]:
        code = compile("\n".join(self.lines) + "\n", f"<wire {cls.__qualname__}.{name}>", "exec")
        exec(code, self.scope)  # noqa: S102 (our own field names and objects only)
        fn = self.scope[name]
        fn.__qualname__ = f"{cls.__qualname__}.{name}"
        return fn


def _encoder(cls: type, specs: dict[str, WireSpec], order: tuple[str, ...]) -> Callable[[Any], dict[str, Any]]:
    src = _Source("def body(self):")
    src.lines.append("    out = {}")
    for n in order:
        s = specs[n]
        value = f"self.{n}"
        if s.write is not None:
            extra = f", format=self.{s.format_attr}" if s.format_attr is not None else ""
            value = src.call(s.write, value, s.write_options, extra)
        if s.when is not None:
            src.lines += [f"    if {src.ref(s.when)}(self):", f"        out[{n!r}] = {value}"]
        elif s.optional:
            src.lines += [f"    if self.{n} is not None:", f"        out[{n!r}] = {value}"]
        else:
            src.lines.append(f"    out[{n!r}] = {value}")
    src.lines.append("    return out")
    return src.build(cls, "body")


def _decoder(cls: type, specs: dict[str, WireSpec], order: tuple[str, ...], check: bool) -> Callable[..., Any]:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    decode_order = [n for n in order if specs[n].early] + [n for n in order if not specs[n].early]
    groups: dict[str, list[str]] = {}
    for n in decode_order:
        if specs[n].one_of is not None:
            groups.setdefault(specs[n].one_of, []).append(n)  # type: ignore[arg-type]
    src = _Source("def from_body(cls, d):")
    assigned = []
    for n in decode_order:
        s = specs[n]
        group = groups.get(s.one_of) if s.one_of is not None else None
        if group is not None and group[0] == n:
            present = " + ".join(f"(d.get({k!r}) is not None)" for k in group)
            error = f"{src.ref(_not_one_of)}({tuple(group)!r}, {getattr(cls, 'TYPE', cls.__name__)!r})"
            src.lines += [f"    if {present} != 1:", f"        raise {error}"]
        value = src.call(s.read, f"d, {n!r}", s.read_options)
        if s.optional:
            value = f"None if d.get({n!r}) is None else {value}"
        if s.only_with is not None:
            value = f"None if d.get({s.only_with!r}) is None else ({value})"
        src.lines.append(f"    v_{n} = {value}")
        assigned.append(n)
        if s.format_attr is not None:
            attr = fields[s.format_attr]
            if attr.default is dataclasses.MISSING or _META in attr.metadata:
                raise TypeError(f"{cls.__name__}.{s.format_attr} must be a non-wire field with a default")
            fallback = src.ref(attr.default)
            src.lines.append(f"    v_{s.format_attr} = {fallback} if v_{n} is None else d[{n!r}]['format']")
            assigned.append(s.format_attr)
    src.lines.append(f"    message = cls({', '.join(f'{n}=v_{n}' for n in assigned)})")
    src.lines += ["    message._check()", "    return message"] if check else ["    return message"]
    return src.build(cls, "from_body")


def compile_wire(cls: type, check: bool = False) -> tuple[Callable[[Any], dict[str, Any]], Callable[..., Any]]:
    """``body(message)`` and ``from_body(cls, d)`` of a message dataclass, from its fields' specs.

    With ``check``, ``from_body`` calls the decoded message's ``_check()`` before returning it."""
    specs = {f.name: f.metadata[_META] for f in dataclasses.fields(cls) if _META in f.metadata}
    order: tuple[str, ...] = getattr(cls, "WIRE_ORDER", None) or tuple(specs)
    if sorted(order) != sorted(specs):
        raise TypeError(f"{cls.__name__}.WIRE_ORDER {order} must list its wire fields {tuple(specs)}")
    return _encoder(cls, specs, order), _decoder(cls, specs, order, check)
