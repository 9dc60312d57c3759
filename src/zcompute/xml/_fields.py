"""Field descriptors: one line per XML attribute, text or child element.

Each descriptor reads straight from the bound lxml element and writes straight back, so
nothing is cached that could drift from the document, and XML the classes do not model
is never touched. ``__get__``/``__set__`` are the typed public face; the objects use
:meth:`Field.write` and :meth:`Field.check` internally.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar, overload

from lxml import etree

from zcompute.errors import XMLError
from zcompute.xml._convert import STR, UINT, BadValue, Converter
from zcompute.xml._tree import Step, ensure, insert_ordered, parse_path, prune, qualify, walk

if TYPE_CHECKING:
    from zcompute.xml._object import XMLObject

__all__ = [
    "ALL_FIELDS",
    "Attr",
    "AttrList",
    "Field",
    "Flag",
    "Memory",
    "Scalar",
    "Text",
]

T = TypeVar("T")
C = TypeVar("C", bound="XMLObject")

#: Every field declared by any class, in definition order (the meta-test walks it).
ALL_FIELDS: list[Field[Any]] = []


class Field(Generic[T]):
    """Base of all field descriptors: a compiled path relative to the owner's element."""

    __slots__ = ("attr", "name", "owner", "path", "steps")

    #: Attributes written with a constant value next to this field's text.
    FIXED: ClassVar[tuple[tuple[str, str], ...]] = ()

    def __init__(self, path: str) -> None:
        self.path = path
        self.steps: tuple[Step, ...]
        self.steps, self.attr = parse_path(path)
        self.name = ""
        self.owner: type[XMLObject] | None = None

    def __set_name__(self, owner: type[XMLObject], name: str) -> None:
        self.name = name
        self.owner = owner
        self.steps = qualify(self.steps, owner.NS)
        ALL_FIELDS.append(self)

    def __repr__(self) -> str:
        owner = self.owner.__name__ if self.owner else "?"
        return f"<{type(self).__name__} {owner}.{self.name} {self.path!r}>"

    @property
    def qualname(self) -> str:
        """``Class.field`` as declared (the meta-test reports fields by this name)."""
        return f"{self.owner.__name__ if self.owner else '?'}.{self.name}"

    def where(self, obj: XMLObject) -> str:
        """The element/attribute this field maps to, for error messages."""
        return f"{obj.TAG}/{self.path}" if self.path not in (".", "") else obj.TAG

    def error(self, obj: XMLObject, bad: BadValue) -> XMLError:
        return XMLError(self.where(obj), bad.message, bad.allowed)

    def write(self, obj: XMLObject, value: Any) -> None:
        """Validate ``value`` completely, then change the document (None removes)."""
        raise NotImplementedError

    def check(self, obj: XMLObject) -> None:
        """Raise XMLError if the document's current value cannot be read."""

    def build(self, obj: XMLObject, value: Any) -> None:
        """:meth:`write` for an object being constructed (children come in order)."""
        if value is not None:
            self.write(obj, value)

    @property
    def needs_check(self) -> bool:
        """Whether :meth:`check` can fail (plain strings and flags cannot)."""
        return False


class Scalar(Field[T]):
    """Shared parts of fields holding one converted value."""

    __slots__ = ("conv",)

    def __init__(self, path: str, conv: Converter[T] = STR) -> None:  # type: ignore[assignment]
        super().__init__(path)
        self.conv = conv

    def parse(self, obj: XMLObject, raw: str) -> T:
        try:
            return self.conv.parse(raw)
        except BadValue as bad:
            raise self.error(obj, bad) from None

    def format(self, obj: XMLObject, value: T) -> str:
        try:
            return self.conv.format(value)
        except BadValue as bad:
            raise self.error(obj, bad) from None

    def read(self, obj: XMLObject) -> T | None:
        raw = self.raw(obj._el)
        return None if raw is None else self.parse(obj, raw)

    def raw(self, el: etree._Element) -> str | None:
        raise NotImplementedError

    def check(self, obj: XMLObject) -> None:
        self.read(obj)

    @property
    def needs_check(self) -> bool:
        return self.conv is not STR

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: XMLObject, owner: type[Any]) -> T | None: ...
    def __get__(self, obj: XMLObject | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        return self.read(obj)

    def __set__(self, obj: XMLObject, value: T | None) -> None:
        self.write(obj, value)


class Attr(Scalar[T]):
    """An attribute, e.g. ``Attr("target/@bus", Choice(...))``; None removes it."""

    __slots__ = ()

    def __init__(self, path: str, conv: Converter[T] = STR) -> None:  # type: ignore[assignment]
        super().__init__(path, conv)
        if self.attr is None:
            raise ValueError(f"attribute path must end in @name: {path!r}")

    def raw(self, el: etree._Element) -> str | None:
        node = walk(el, self.steps) if self.steps else el
        return None if node is None else node.get(self.attr)  # type: ignore[arg-type]

    def write(self, obj: XMLObject, value: T | None) -> None:
        attr: str = self.attr  # type: ignore[assignment]  # checked in __init__
        if value is None:
            node = walk(obj._el, self.steps)
            if node is not None and attr in node.attrib:
                del node.attrib[attr]
                key = self.steps[-1][1] if self.steps else None
                if key is not None and node.keys() == [key] and len(node) == 0:
                    # only the selecting attribute is left (<cipher name='aes'/>): drop it
                    node.attrib.pop(key)
                prune(node, obj._el)
            return
        text = self.format(obj, value)
        if obj._pending is not None:
            obj._materialize()
        steps = self.steps
        if steps:
            ensure(obj._el, steps, obj._order, obj._suborders).set(attr, text)
        else:
            obj._el.set(attr, text)


class Text(Scalar[T]):
    """The text of an element, e.g. ``Text("name")``.

    None removes the text, and the element too unless it still has attributes or
    children (``<model fallback='allow'/>`` keeps its fallback when the name goes).
    """

    __slots__ = ()

    def raw(self, el: etree._Element) -> str | None:
        node = walk(el, self.steps) if self.steps else el
        return None if node is None else node.text

    def write(self, obj: XMLObject, value: T | None) -> None:
        if value is None:
            node = walk(obj._el, self.steps) if self.steps else obj._el
            if node is not None:
                node.text = None
                prune(node, obj._el)
            return
        text = self.format(obj, value)
        obj._materialize()
        node = ensure(obj._el, self.steps, obj._order, obj._suborders)
        node.text = text


class Memory(Scalar[int]):
    """A size element with a ``unit`` attribute, read and written in KiB.

    libvirt accepts b/bytes, k/KiB/KB (1000) ... up to E/EiB/EB and defaults to KiB;
    it rounds sizes up to whole KiB, and so does this field.
    """

    __slots__ = ()

    FIXED = (("unit", "KiB"),)
    _SCALE = {"": 1024, "i": 1024, "ib": 1024, "b": 1000}
    _POWERS = "kmgtpe"
    ALLOWED = "b, bytes, KB, KiB, MB, MiB, GB, GiB, TB, TiB, PB, PiB, EB, EiB"

    def __init__(self, path: str) -> None:
        super().__init__(path, UINT)

    def raw(self, el: etree._Element) -> str | None:
        node = walk(el, self.steps)
        return None if node is None else node.text or ""

    def read(self, obj: XMLObject) -> int | None:
        node = walk(obj._el, self.steps)
        if node is None:
            return None
        amount = self.parse(obj, node.text or "")
        return -(-amount * self._unit_bytes(obj, node.get("unit")) // 1024)

    def _unit_bytes(self, obj: XMLObject, unit: str | None) -> int:
        if unit is None or unit == "":
            return 1024
        low = unit.lower()
        if low in ("b", "bytes"):
            return 1
        power = self._POWERS.find(low[0])
        base = self._SCALE.get(low[1:]) if power >= 0 else None
        if base is None:
            where = f"{obj.TAG}/{self.path}/@unit"
            raise XMLError(where, f"unknown unit {unit!r}", self.ALLOWED)
        return int(base ** (power + 1))

    def write(self, obj: XMLObject, value: int | None) -> None:
        if value is None:
            node = walk(obj._el, self.steps)
            if node is not None and (parent := node.getparent()) is not None:
                parent.remove(node)
            return
        text = self.format(obj, value)
        obj._materialize()
        node = ensure(obj._el, self.steps, obj._order, obj._suborders)
        node.text = text
        node.set("unit", "KiB")


class Flag(Field[bool]):
    """An empty marker element such as ``<readonly/>`` or ``<acpi/>``: present or not."""

    __slots__ = ()

    def read(self, obj: XMLObject) -> bool:
        return walk(obj._el, self.steps) is not None

    def write(self, obj: XMLObject, value: bool | None) -> None:
        if value is True:
            obj._materialize()
            ensure(obj._el, self.steps, obj._order, obj._suborders)
            return
        if value not in (None, False):
            raise XMLError(self.where(obj), f"expected True or False, got {value!r}")
        node = walk(obj._el, self.steps)
        if node is not None and (parent := node.getparent()) is not None:
            parent.remove(node)
            prune(parent, obj._el)

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: XMLObject, owner: type[Any]) -> bool: ...
    def __get__(self, obj: XMLObject | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        return self.read(obj)

    def __set__(self, obj: XMLObject, value: bool | None) -> None:
        self.write(obj, value)


class AttrList(Field[T]):
    """One attribute of a repeated child, e.g. ``AttrList("boot/@dev")`` -> ['hd', 'network']."""

    __slots__ = ("conv",)

    def __init__(self, path: str, conv: Converter[T] = STR) -> None:  # type: ignore[assignment]
        super().__init__(path)
        if len(self.steps) != 1 or self.attr is None:
            raise ValueError(f"list path must be 'tag/@attr': {path!r}")
        self.conv = conv

    def read(self, obj: XMLObject) -> list[T]:
        tag = self.steps[0][0]
        attr: str = self.attr  # type: ignore[assignment]
        values: list[T] = []
        for node in obj._el.iterchildren(tag):
            raw = node.get(attr)
            if raw is not None:
                try:
                    values.append(self.conv.parse(raw))
                except BadValue as bad:
                    raise self.error(obj, bad) from None
        return values

    def check(self, obj: XMLObject) -> None:
        self.read(obj)

    @property
    def needs_check(self) -> bool:
        return self.conv is not STR

    def build(self, obj: XMLObject, value: Any) -> None:
        # constructors build children in libvirt's order, so these go last
        try:
            texts = [self.conv.format(v) for v in (value or ())]
        except BadValue as bad:
            raise self.error(obj, bad) from None
        tag = self.steps[0][0]
        attr: str = self.attr  # type: ignore[assignment]
        for text in texts:
            etree.SubElement(obj._el, tag).set(attr, text)

    def write(self, obj: XMLObject, value: Iterable[T] | None) -> None:
        try:
            texts = [self.conv.format(v) for v in (value or ())]
        except BadValue as bad:
            raise self.error(obj, bad) from None
        tag = self.steps[0][0]
        for node in list(obj._el.iterchildren(tag)):
            obj._el.remove(node)
        if texts:
            obj._materialize()
        for text in texts:
            node = obj._el.makeelement(tag)
            node.set(self.attr, text)  # type: ignore[arg-type]
            insert_ordered(obj._el, node, obj._order)

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: XMLObject, owner: type[Any]) -> list[T]: ...
    def __get__(self, obj: XMLObject | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        return self.read(obj)

    def __set__(self, obj: XMLObject, value: Iterable[T] | None) -> None:
        self.write(obj, value)
