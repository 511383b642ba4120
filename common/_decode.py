"""One decoding module: bytes → attrs model, or :class:`DecodeError`.

:func:`make_converter` builds the one configured converter a provider package
uses (built once at import): strict scalars (no ``"1"`` for an int, no ``1`` for
a string), ISO dates and times, tolerant ``Enum | str`` and ``date | str``
unions (an unlisted value is kept, not refused), JSON key renaming, and an
optional ``extra`` field on a model that collects unknown keys.

:class:`Decoder` turns a body into a model and any failure into a
:class:`DecodeError` whose message names the JSON path, never a bare
``KeyError``/``TypeError``. It decodes through a compiled path first (msgspec
into a generated mirror of each model, see ``_Mirrors``); cattrs, the reference,
decides whatever that path does not accept, so results and error messages are
cattrs' own.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import threading
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
import msgspec
from cattrs.cols import is_sequence, mapping_structure_factory
from cattrs.errors import IterableValidationNote
from cattrs.gen import make_dict_structure_fn, override

from ._errors import DecodeError
from ._json import loads
from ._validate import NOT_GIVEN, NULLABLE, SENT, format_time, shown

__all__ = [
    "Decoder",
    "ModelConverter",
    "camel_case",
    "make_converter",
    "parse_date",
    "parse_datetime",
    "parse_time",
]

T = TypeVar("T")

#: Name of the optional model field that receives unknown JSON keys.
EXTRA_FIELD = "extra"
#: attrs field metadata key naming the JSON key explicitly.
JSON_KEY = "json"
#: A DecodeError shows this many problems (an array stops collecting its items' past it).
SHOWN_ERRORS = 5
#: A float holds every integer below 2**53 exactly (2**53 itself may have been 2**53 + 1):
#: an integer field takes 1.0, not 1e20.
_EXACT_FLOAT_INT = 2**53


def camel_case(name: str) -> str:
    """``series_id`` → ``seriesId`` (a key spelt otherwise is declared on its field)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_TIME = re.compile(r"\d{2}:\d{2}(?::\d{2})?")


def parse_date(value: Any) -> dt.date:
    """An ISO ``YYYY-MM-DD`` string (or a date) as a date; ValueError otherwise."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or len(value) != 10 or not _ISO_DATE.fullmatch(value):
        raise ValueError(f"expected a YYYY-MM-DD date, got {shown(value)}")
    return dt.date.fromisoformat(value)  # refuses the rest: 2026-02-30, 2026-1x-01


def parse_time(value: Any) -> dt.time:
    """``HH:MM`` or ``HH:MM:SS`` (24 h) as a time; ValueError otherwise."""
    if isinstance(value, dt.time):
        return value
    if not isinstance(value, str) or not _ISO_TIME.fullmatch(value):
        raise ValueError(f"expected HH:MM or HH:MM:SS, got {shown(value)}")
    return dt.time.fromisoformat(value)


#: RFC 3339's timestamp (and ISO 8601's ``±HHMM``, ``±HH`` offsets, and a time without
#: seconds) in the parts that Python 3.10's ``fromisoformat`` takes only in one form: any
#: number of fraction digits (Go and Java write nine), an offset without its colon, and a
#: leap second.
_TIMESTAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:(\d{2}))(?::(\d{2})(?:[.,](\d+))?)?"
    r"([Zz]|[+-]\d{2}(?::?\d{2})?)?",
    re.ASCII,
)


def parse_datetime(value: Any) -> dt.datetime:
    """ISO 8601 with offset (``Z`` accepted) as an aware datetime; naive means UTC.

    The same on every Python the project supports: a fraction of any length (beyond
    microseconds cut, not rounded), ``+0100`` and ``+01`` offsets, a time without
    seconds, ISO 8601's end of a day (``24:00``, read as the next day's ``00:00``), and a
    leap second (``23:59:60``, read as the microsecond before the next minute: Python has
    no 60th second). The forms only a later Python reads (ISO 8601's
    basic ``20260501T090000Z``, week dates) are refused on every one.
    """
    if isinstance(value, dt.datetime):
        parsed = value
    elif (
        isinstance(value, str)
        and 10 <= len(value) <= 40
        and value[4] == "-"
        and value[7] == "-"
        and (len(value) == 10 or value[13:14] == ":")
    ):
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            parsed = dt.datetime.fromisoformat(_rfc3339(value) or text)  # or its own error
    else:
        raise ValueError(f"expected an ISO 8601 timestamp, got {shown(value)}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.timezone.utc)


def _rfc3339(value: str) -> str | None:
    """``value`` written the one way every ``fromisoformat`` reads, or None: not a
    timestamp of :data:`_TIMESTAMP`'s form."""
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        return None
    head, minute, second, fraction, offset = match.groups()
    second = second or "00"
    micro = (fraction or "")[:6].ljust(6, "0")
    if second == "60" and minute == "59":  # a leap second
        second, micro = "59", "999999"
    if head[11:] == "24:00" and second == "00" and micro == "000000":  # ISO 8601's end of day
        try:
            head = f"{dt.date.fromisoformat(head[:10]) + dt.timedelta(days=1)}T00:00"
        except (ValueError, OverflowError):
            return None
    if offset is None:
        zone = ""
    elif offset in ("Z", "z"):
        zone = "+00:00"
    else:  # ±HH, ±HHMM, ±HH:MM
        zone = f"{offset[:3]}:{offset[-2:] if len(offset) > 3 else '00'}"
    return f"{head}:{second}.{micro}{zone}"


def _strict_str(value: Any, _: Any) -> str:
    if type(value) is str or isinstance(value, str):
        return value
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _strict_int(value: Any, _: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    # 1.0 is an integer; 9007199254740993.0 was read as a float and lost its last digit.
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT_FLOAT_INT:
        return int(value)
    raise TypeError(f"expected an integer, got {type(value).__name__}")


def _strict_float(value: Any, _: Any) -> float:
    if type(value) is float:  # the common case first: this runs for every number
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _strict_bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected a boolean, got {type(value).__name__}")


def _union_args(tp: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(tp)
    return ()


_PARSERS: dict[Any, Callable[[Any], Any]] = {
    dt.date: parse_date,
    dt.time: parse_time,
    dt.datetime: parse_datetime,
}


def _tolerant_target(tp: Any) -> Any:
    """For ``X | str`` (optionally ``| None``) with X an enum or date/time: X, else None."""
    args = [a for a in _union_args(tp) if a is not type(None)]
    if len(args) != 2 or str not in args:
        return None
    (other,) = [a for a in args if a is not str]
    if isinstance(other, type) and (issubclass(other, enum.Enum) or other in _PARSERS):
        return other
    return None


def _tolerant_union_hook(tp: Any) -> Callable[[Any, Any], Any]:
    """``Kind | str``: the parsed value when it parses, else the string as sent."""
    target = _tolerant_target(tp)
    parse: Callable[[Any], Any] = _PARSERS.get(target, target)
    optional = type(None) in _union_args(tp)
    # Enum members by value: a dict lookup, much cheaper than calling the enum class.
    members: dict[Any, Any] = (
        dict(target._value2member_map_) if issubclass(target, enum.Enum) else {}
    )

    def structure(value: Any, _: Any) -> Any:
        if value is None and optional:
            return None
        member = members.get(value) if type(value) is str else None
        if member is not None:
            return member
        try:
            return parse(value)
        except (ValueError, TypeError):
            if isinstance(value, str):
                return value
            raise TypeError(f"expected a string, got {type(value).__name__}") from None

    return structure


def _is_plain_optional(tp: Any) -> bool:
    """``X | None`` (one X), not one of the tolerant unions handled elsewhere."""
    args = _union_args(tp)
    return len(args) == 2 and type(None) in args and _tolerant_target(tp) is None


def _scalar_hook(parse: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _: Any) -> Any:
        return parse(value)

    return structure


class ModelConverter(cattrs.Converter):
    """A cattrs converter that remembers each model's attribute → JSON key names."""

    def __init__(self) -> None:
        super().__init__(detailed_validation=True, forbid_extra_keys=False)
        self.json_keys: dict[type[Any], dict[str, str]] = {}
        #: An attribute name → its JSON key, unless a field's metadata names it.
        self.key_of: Callable[[str], str] = _same


def make_converter(rename: Callable[[str], str] | None = None) -> ModelConverter:
    """A converter configured for API models; build one per provider, at import.

    ``rename`` maps an attribute name to its JSON key (default: the same name);
    a field's ``metadata={"json": "key"}`` overrides it. A model with a field
    named ``extra`` (a dict, default empty) receives the keys it does not know.
    ``converter.unstructure(request)`` turns a write-request class (see
    :func:`common.provider.optional`) into its JSON body with the same key names.
    """
    converter = ModelConverter()
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(float, _strict_float)
    converter.register_structure_hook(bool, _strict_bool)
    for kind, parse in _PARSERS.items():
        converter.register_structure_hook(kind, _scalar_hook(parse))
    converter.register_structure_hook_factory(
        lambda tp: _tolerant_target(tp) is not None, _tolerant_union_hook
    )
    to_key = converter.key_of = rename or _same

    def model_hook(cls: type[Any]) -> Callable[[Any, Any], Any]:
        fields = attrs.fields(cls)
        has_extra = any(f.name == EXTRA_FIELD for f in fields)
        keys = {
            f.name: f.metadata.get(JSON_KEY, to_key(f.name))
            for f in fields
            if f.name != EXTRA_FIELD
        }
        converter.json_keys[cls] = keys
        known = frozenset(keys.values())
        overrides = {name: override(rename=key) for name, key in keys.items()}
        if has_extra:
            overrides[EXTRA_FIELD] = override(omit=True)
        build = make_dict_structure_fn(cls, converter, **overrides)  # type: ignore[arg-type]
        name = cls.__name__

        def structure(value: Any, _: Any) -> Any:
            if type(value) is not dict and not isinstance(value, Mapping):
                raise TypeError(f"expected an object for {name}, got {type(value).__name__}")
            obj = build(value, cls)
            if has_extra:
                unknown = {k: v for k, v in value.items() if k not in known}
                if unknown:
                    object.__setattr__(obj, EXTRA_FIELD, unknown)
            return obj

        return structure

    converter.register_structure_hook_factory(attrs.has, model_hook)

    # Request bodies: the same JSON keys; a field left out (None, or NOT_GIVEN where
    # None means JSON null) is not sent, nor is a keyword that is no part of the body.
    def body_hook(cls: type[Any]) -> Callable[[Any], Any]:
        fields = [
            (f.name, f.metadata.get(JSON_KEY, to_key(f.name)), f.metadata.get(NULLABLE, False))
            for f in attrs.fields(cls)
            if f.metadata.get(SENT, True) and f.name != EXTRA_FIELD
        ]

        def unstructure(obj: Any) -> dict[str, Any]:
            body = {}
            for name, key, can_be_null in fields:
                value = getattr(obj, name)
                if value is NOT_GIVEN or (value is None and not can_be_null):
                    continue
                body[key] = None if value is None else converter.unstructure(value)
            return body

        return unstructure

    converter.register_unstructure_hook_factory(attrs.has, body_hook)
    converter.register_unstructure_hook(dt.date, dt.date.isoformat)
    converter.register_unstructure_hook(dt.time, format_time)

    # cattrs looks the inner hook up again on every ``X | None`` value; resolve it once.
    def optional_hook(tp: Any) -> Callable[[Any, Any], Any]:
        (inner,) = [a for a in _union_args(tp) if a is not type(None)]
        hook = converter.get_structure_hook(inner)
        if inner in (str, float, bool):  # the common case answered without a call
            exact: type[Any] = inner

            def scalar(value: Any, _: Any) -> Any:
                if value is None or type(value) is exact:
                    return value
                return hook(value, exact)

            return scalar

        def structure(value: Any, _: Any) -> Any:
            return None if value is None else hook(value, inner)

        return structure

    converter.register_structure_hook_factory(_is_plain_optional, optional_hook)

    # cattrs would iterate any iterable into a list (a string into characters) and
    # any mapping-like into a dict: JSON arrays and objects only. And its list hook
    # collects every item's error: a small body of a million wrong items built a million
    # exceptions on the event loop (19 s, 1.6 GB) to show five. This one stops after them.
    def list_hook(tp: Any) -> Callable[[Any, Any], Any]:
        args = getattr(tp, "__args__", None)
        item_type = args[0] if args else Any
        item: Callable[[Any, Any], Any] | None = None  # None: any item, taken as it is
        if item_type not in (Any, object):
            try:
                item = converter.get_structure_hook(item_type)
            except RecursionError:  # a model that contains itself: bound late
                item = converter.structure

        def structure(value: Any, _: Any) -> Any:
            if not isinstance(value, list):
                raise TypeError(f"expected an array, got {type(value).__name__}")
            if item is None:
                return list(value)
            out, errors = [], []
            for index, element in enumerate(value):
                try:
                    out.append(item(element, item_type))
                except Exception as exc:
                    note = IterableValidationNote(
                        f"Structuring {tp} @ index {index}", index, item_type
                    )
                    typing.cast(Any, exc).__notes__ = [*getattr(exc, "__notes__", []), note]
                    errors.append(exc)
                    if len(errors) > SHOWN_ERRORS:  # enough to show, and to say there is more
                        break
            if errors:
                raise cattrs.IterableValidationError(f"While structuring {tp!r}", errors, tp)
            return out

        return structure

    def dict_hook(tp: Any) -> Callable[[Any, Any], Any]:
        build = mapping_structure_factory(tp, converter)

        def structure(value: Any, _: Any) -> Any:
            if not isinstance(value, Mapping):
                raise TypeError(f"expected an object, got {type(value).__name__}")
            return build(value, tp)

        return structure

    converter.register_structure_hook_factory(is_sequence, list_hook)
    converter.register_structure_hook_factory(lambda tp: _origin(tp) in (dict, Mapping), dict_hook)
    return converter


def _messages(
    exc: BaseException, path: str, json_keys: Mapping[type[Any], Mapping[str, str]]
) -> list[str]:
    """Flatten a cattrs error tree into ``"what @ $.json.path"`` lines, with JSON key names."""
    if isinstance(exc, cattrs.ClassValidationError):
        keys = json_keys.get(exc.cl, {})
        with_notes, without = exc.group_exceptions()
        out: list[str] = []
        for inner, note in with_notes:
            out += _messages(inner, f"{path}.{keys.get(note.name, note.name)}", json_keys)
        for inner in without:
            out += _messages(inner, path, json_keys)
        return out
    if isinstance(exc, cattrs.IterableValidationError):
        items, rest = exc.group_exceptions()
        out = []
        for inner, index_note in items:
            out += _messages(inner, f"{path}[{index_note.index!r}]", json_keys)
        for inner in rest:
            out += _messages(inner, path, json_keys)
        return out
    if isinstance(exc, cattrs.BaseValidationError):
        return list(cattrs.transform_error(exc, path=path))
    if isinstance(exc, KeyError):
        return [f"required field missing @ {path}"]
    return [f"{exc} @ {path}"]


def _describe(
    exc: BaseException, path: str, json_keys: Mapping[type[Any], Mapping[str, str]]
) -> str:
    messages = _messages(exc, path, json_keys)
    shown = "; ".join(messages[:SHOWN_ERRORS])
    if len(messages) > SHOWN_ERRORS:
        shown += "; and more"  # (an array stops counting its items' errors past these)
    return shown


# --- the compiled path ------------------------------------------------------------------
#
# msgspec cannot decode into these attrs classes (an ``Enum | str`` union is two str-like
# types to it, it ignores the JSON key metadata and has no place for unknown keys), so each
# model gets a mirror ``msgspec.Struct`` generated from ``attrs.fields`` (tolerant unions,
# dates and times as ``str``) and a generated builder that fills the model's slots from it.
# The mirror refuses unknown keys: msgspec skips an ignored key's value unchecked (``1e400``,
# a lone surrogate there would pass), so a body with one is parsed whole first (every value
# checked) and converted from the dicts, which also fill ``extra``. Whatever else the mirror
# refuses goes through cattrs, which then accepts it or words the error as it always has.


class _Unsupported(Exception):
    """A type the mirror does not cover: that model is decoded by cattrs only."""


class _Mirror:
    """One model's strict and lenient mirror Structs and its builder ``build(m, raw)``."""

    __slots__ = ("build", "lenient", "raw", "strict")

    def __init__(self, strict: Any, lenient: Any, build: Any, raw: bool) -> None:
        self.strict, self.lenient, self.build, self.raw = strict, lenient, build, raw


class _Value:
    """How one attrs type decodes: its mirror types and the expression that converts it."""

    __slots__ = ("expr", "lenient", "raw", "strict")

    def __init__(self, strict: Any, lenient: Any, expr: str, raw: bool = False) -> None:
        # ``expr`` converts ``{v}`` (the mirror's value) to the model's, with ``{r}`` the
        # raw JSON value when ``raw`` (some model inside keeps unknown keys) or None.
        self.strict, self.lenient, self.expr, self.raw = strict, lenient, expr, raw


_IDENTITY = "{v}"
_SCALARS = (str, int, float, bool)


class _Mirrors:
    """The mirrors of one converter's models, generated at first use."""

    def __init__(self, converter: ModelConverter) -> None:
        self.converter = converter
        self.models: dict[type[Any], _Mirror | None] = {}
        self.namespace: dict[str, Any] = {}
        self._busy: list[type[Any]] = []
        self._used: list[list[str]] = []  # per model being generated: the names its code uses

    def _name(self, value: Any, hint: str) -> str:
        name = f"_{hint}{len(self.namespace)}"
        self.namespace[name] = value
        self._used[-1].append(name)
        return name

    def model(self, cls: type[Any]) -> _Mirror | None:
        if cls in self.models:
            return self.models[cls]
        if cls in self._busy:  # a model that contains itself: cattrs' job
            raise _Unsupported(cls)
        self._busy.append(cls)
        self._used.append([])
        try:
            mirror: _Mirror | None = self._generate(cls)
        except _Unsupported:
            mirror = None
        finally:
            self._busy.pop()
            self._used.pop()
        self.models[cls] = mirror
        return mirror

    def value(self, tp: Any) -> _Value:
        if tp in _SCALARS:
            return _Value(tp, tp, _IDENTITY)
        target = _tolerant_target(tp)
        optional = type(None) in _union_args(tp)
        if target is not None:
            text: Any = str | None if optional else str
            if issubclass(target, enum.Enum):
                members = self._name(dict(target._value2member_map_), "members")
                return _Value(text, text, f"{members}.get({{v}}, {{v}})")
            parse = _date_or_text if target is dt.date else _tolerant(_FROM_TEXT[target])
            loose = self._name(parse, "loose")
            return _Value(text, text, f"{loose}({{v}})")
        if _is_plain_optional(tp):
            (inner_tp,) = [a for a in _union_args(tp) if a is not type(None)]
            inner = self.value(inner_tp)
            expr = inner.expr
            if expr != _IDENTITY:
                expr = f"(None if {{v}} is None else {expr})"
            return _Value(inner.strict | None, inner.lenient | None, expr, inner.raw)
        if tp is dt.date:  # msgspec reads exactly YYYY-MM-DD, a valid date, as parse_date
            return _Value(tp, tp, _IDENTITY)
        if tp in _FROM_TEXT:
            return _Value(str, str, f"{self._name(_FROM_TEXT[tp], 'parse')}({{v}})")
        if isinstance(tp, type) and attrs.has(tp):
            mirror = self.model(tp)
            if mirror is None:
                raise _Unsupported(tp)
            build = self._name(mirror.build, "build")
            expr = f"{build}({{v}}, {{r}})" if mirror.raw else f"{build}({{v}}, None)"
            return _Value(mirror.strict, mirror.lenient, expr, mirror.raw)
        if _origin(tp) is list:
            (item_tp,) = typing.get_args(tp) or (Any,)
            item = self.value(item_tp)
            if item.expr == _IDENTITY:
                expr = _IDENTITY
            elif item.raw:
                each = item.expr.format(v="x", r="y")
                plain = item.expr.format(v="x", r="None")
                expr = (
                    f"([{plain} for x in {{v}}] if {{r}} is None"
                    f" else [{each} for x, y in zip({{v}}, {{r}})])"
                )
            else:
                expr = f"[{item.expr.format(v='x', r='None')} for x in {{v}}]"
            return _Value(list[item.strict], list[item.lenient], expr, item.raw)  # type: ignore[name-defined]
        raise _Unsupported(tp)

    def _generate(self, cls: type[Any]) -> _Mirror:
        if getattr(cls, "__attrs_post_init__", None) is not None:
            raise _Unsupported(cls)
        twin = _mutable_twin(cls)
        hints = typing.get_type_hints(cls)
        fields: list[tuple[str, Any, Any]] = []
        lenient_fields: list[tuple[str, Any, Any]] = []
        keys: dict[str, str] = {}
        known = self._name(frozenset(), "known")  # the JSON keys, set once all are known
        lines = [f"    o = {self._name(object.__new__, 'new')}({self._name(twin, 'twin')})"]
        needs_raw = False
        for field in attrs.fields(cls):
            if field.validator is not None or field.converter is not None:
                raise _Unsupported(cls)
            if field.name == EXTRA_FIELD:
                needs_raw = True
                lines.append(
                    f"    o.{field.name} = {{}} if r is None else"
                    f" {{k: w for k, w in r.items() if k not in {known}}}"
                )
                continue
            key = keys[field.name] = field.metadata.get(JSON_KEY, self.converter.key_of(field.name))
            value = self.value(hints[field.name])
            default = field.default
            if default is attrs.NOTHING:
                spec = msgspec.field(name=key)
            elif isinstance(default, attrs.Factory) and not default.takes_self:  # type: ignore[arg-type]
                spec = msgspec.field(name=key, default_factory=default.factory)
            elif default is None or type(default) in _SCALARS:
                spec = msgspec.field(name=key, default=default)
            else:
                raise _Unsupported(cls)
            fields.append((field.name, value.strict, spec))
            lenient_fields.append((field.name, value.lenient, spec))
            raw = "None"
            if value.raw:
                needs_raw = True
                raw = f"(None if r is None else r.get({key!r}))"
            lines.append(f"    o.{field.name} = {value.expr.format(v=f'm.{field.name}', r=raw)}")
        lines.append(f"    o.__class__ = {self._name(cls, 'cls')}")
        lines.append("    return o")
        # The helpers as keyword defaults: local variables, the fastest lookup.
        helpers = ", ".join(f"{name}={name}" for name in self._used[-1])
        lines.insert(0, f"def build(m, r, *, {helpers}):")
        self.namespace[known] = frozenset(keys.values())
        self.converter.json_keys.setdefault(cls, keys)
        name = cls.__name__
        strict = msgspec.defstruct(
            f"{name}Mirror", fields, kw_only=True, gc=False, forbid_unknown_fields=True
        )
        lenient = msgspec.defstruct(f"{name}Lenient", lenient_fields, kw_only=True, gc=False)
        exec("\n".join(lines), self.namespace)  # the code built above from attrs.fields
        return _Mirror(strict, lenient, self.namespace.pop("build"), needs_raw)


def _mutable_twin(cls: type[Any]) -> type[Any]:
    """A subclass of ``cls`` that adds nothing but plain attribute setting.

    A builder fills an instance of it with plain stores (three times cheaper than calling
    each slot's setter) and then makes it a ``cls`` by assigning ``__class__``, which the
    identical memory layout allows: the caller only ever sees a ``cls``, frozen as ever.
    """
    names = {f.name for f in attrs.fields(cls)}
    slots = {s for k in cls.__mro__ for s in vars(k).get("__slots__", ())} - {"__weakref__"}
    if slots != names or any("__slots__" not in vars(k) for k in cls.__mro__[:-1]):
        raise _Unsupported(cls)  # not slotted, or a slot no field fills (a cached hash)
    twin = type(
        f"_{cls.__name__}Builder",
        (cls,),
        # both: one type slot serves setting and deleting; generic, stores are specialised
        {"__slots__": (), "__setattr__": object.__setattr__, "__delattr__": object.__delattr__},
    )
    probe: Any = object.__new__(twin)
    try:
        for name in names:
            setattr(probe, name, None)
        probe.__class__ = cls
    except TypeError:  # a layout that refuses the class change
        raise _Unsupported(cls) from None
    return twin


def _tolerant(parse: Callable[[str], Any]) -> Callable[[str | None], Any]:
    """``date | str`` and the like: the parsed value when it parses, else the string."""

    def loose(value: str | None) -> Any:
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError:
            return value

    return loose


# parse_date and parse_time for a value the mirror already knows is a str, without the
# regular expression: with the separators in place, ``fromisoformat`` accepts ASCII digits
# only, so the same strings as the pattern (the differential test holds them equal). A
# strict date needs none (msgspec reads exactly YYYY-MM-DD); a tolerant one is written
# out in one call, as a date field of every event and run is one.
def _date_or_text(value: str | None) -> dt.date | str | None:
    """``date | str``: the date when ``value`` is one, else ``value`` itself."""
    if value is not None and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    return value


def _time_from_text(value: str) -> dt.time:
    size = len(value)
    if value[2:3] != ":" or not (size == 5 or (size == 8 and value[5] == ":")):
        raise ValueError(value)
    return dt.time.fromisoformat(value)


_FROM_TEXT: dict[Any, Callable[[str], Any]] = {
    dt.time: _time_from_text,
    dt.datetime: parse_datetime,
}


class _Fast:
    """The compiled decoding of one (model, root): a strict decoder and the lenient route."""

    __slots__ = ("build", "decoder", "lenient", "raw", "root")

    def __init__(self, mirror: _Mirror, root: str | None) -> None:
        target = mirror.strict
        if root is not None:  # ``{root: model}``, the model's mirror in field ``value``
            value = msgspec.field(name=root)
            target = msgspec.defstruct(
                "Root", [("value", target, value)], forbid_unknown_fields=True, gc=False
            )
        self.decoder = msgspec.json.Decoder(target)
        self.lenient, self.build, self.raw, self.root = (
            mirror.lenient,
            mirror.build,
            mirror.raw,
            root,
        )


class Decoder:
    """Decodes response bodies into models with one converter; hooks looked up once."""

    def __init__(self, converter: ModelConverter) -> None:
        self.converter = converter
        self._hooks: dict[Any, Callable[[Any, Any], Any]] = {}
        self._mirrors = _Mirrors(converter)
        self._fast: dict[tuple[Any, str | None], _Fast | None] = {}
        # Generating is once per (model, root), but a decoder may be shared by threads
        # (one event loop each): one generates at a time.
        self._generating = threading.Lock()

    def structure(self, data: Any, cls: type[T], *, path: str = "$") -> T:
        """Structure already-parsed JSON into ``cls``; DecodeError naming the path."""
        hook = self._hooks.get(cls)
        if hook is None:
            hook = self._hooks[cls] = self.converter.get_structure_hook(cls)
        try:
            return typing.cast(T, hook(data, cls))
        except Exception as exc:
            detail = _describe(exc, path, self.converter.json_keys)
            raise DecodeError(f"response does not match {_name(cls)}: {detail}") from exc

    def decode(self, body: bytes, cls: type[T], *, root: str | None = None) -> T:
        """Parse ``body`` and structure it (or its ``root`` key) into ``cls``."""
        decoded = self.compiled_decode(body, cls, root=root)
        if decoded is not None:
            return decoded
        return self.reference_decode(body, cls, root=root)

    def compiled_decode(self, body: bytes, cls: type[T], *, root: str | None = None) -> T | None:
        """:meth:`decode` through the compiled path only: the model, or None where that path
        declines and cattrs decides (an odd value, a wrong type, a model it does not cover)."""
        try:
            fast = self._fast[cls, root]
        except KeyError:
            fast = self._compile(cls, root)
        if fast is None or not body:
            return None
        try:
            mirror = fast.decoder.decode(body)
            return typing.cast(T, fast.build(mirror if root is None else mirror.value, None))
        except Exception:  # an unknown key, or a value cattrs must judge: try the next route
            pass
        # A key the mirror does not know: parse the whole body (every value checked), then
        # convert, skipping unknown keys; the dicts fill ``extra``.
        try:
            data = msgspec.json.decode(body)
            if root is not None:
                data = data[root]
            mirror = msgspec.convert(data, fast.lenient)
            return typing.cast(T, fast.build(mirror, data if fast.raw else None))
        except Exception:  # cattrs decides, and words the error as it always has
            return None

    def reference_decode(self, body: bytes, cls: type[T], *, root: str | None = None) -> T:
        """:meth:`decode` through cattrs alone: the reference the compiled path equals."""
        data = self.parse(body)
        path = "$"
        if root is not None:
            if not isinstance(data, Mapping) or root not in data:
                raise DecodeError(
                    f"response does not match {_name(cls)}: required field missing @ $.{root}"
                )
            data = data[root]
            path = f"$.{root}"
        return self.structure(data, cls, path=path)

    def _compile(self, cls: Any, root: str | None) -> _Fast | None:
        with self._generating:
            if (cls, root) in self._fast:  # another thread was first
                return self._fast[cls, root]
            self.converter.get_structure_hook(cls)  # cattrs records every model's JSON keys
            mirror = self._mirrors.model(cls) if attrs.has(cls) else None
            fast = self._fast[cls, root] = None if mirror is None else _Fast(mirror, root)
            return fast

    @staticmethod
    def parse(body: bytes) -> Any:
        """Parse JSON or raise DecodeError (empty, truncated or not JSON)."""
        if not body:
            raise DecodeError("response body is empty, expected JSON")
        try:
            return loads(body)
        except ValueError as exc:
            raise DecodeError(f"response body is not valid JSON: {exc}") from exc


def _same(name: str) -> str:
    return name


def _origin(tp: Any) -> Any:
    return typing.get_origin(tp)


def _name(cls: Any) -> str:
    return getattr(cls, "__name__", None) or str(cls)
