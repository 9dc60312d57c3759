"""Descriptors for typed child objects: one (``Child``/``MaybeChild``) or many (``ChildList``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, overload

from lxml import etree

from zcompute.errors import XMLError
from zcompute.xml._fields import Field
from zcompute.xml._tree import ensure, insert_ordered, prune, walk

if TYPE_CHECKING:
    from zcompute.xml._object import XMLObject

__all__ = ["Child", "ChildList", "MaybeChild"]

C = TypeVar("C", bound="XMLObject")


class _ChildBase(Field[C], Generic[C]):
    """A child element bound to a typed object class; the last path step is its tag."""

    __slots__ = ("cls",)

    def __init__(self, cls: type[C], path: str | None = None) -> None:
        super().__init__(path or cls.TAG)
        self.cls = cls

    def __set_name__(self, owner: type[XMLObject], name: str) -> None:
        super().__set_name__(owner, name)
        # intermediate steps live in the owner's namespace, the last one is the child's tag
        self.steps = (*self.steps[:-1], (self.cls.QTAG, None, None))

    def parent_element(self, obj: XMLObject, create: bool) -> etree._Element | None:
        head = self.steps[:-1]
        if not head:
            return obj._el
        if create:
            return ensure(obj._el, head, obj._order, obj._suborders)
        return walk(obj._el, head)

    @property
    def needs_check(self) -> bool:
        return True

    def order_for(self, obj: XMLObject) -> dict[str, int]:
        if len(self.steps) == 1:
            return obj._order
        if len(self.steps) == 2:
            return obj._suborders.get(self.steps[0][0], {})
        return {}

    def adopt(self, obj: XMLObject, value: Any) -> etree._Element:
        """Check ``value`` can become this child and return its element."""
        if not isinstance(value, self.cls):
            raise XMLError(
                self.where(obj),
                f"expected a {self.cls.__name__}, got {type(value).__name__}",
            )
        value._pending = None  # a placeholder being placed here stops waiting elsewhere
        return value._el

    def check_free(self, obj: XMLObject, el: etree._Element, mine: etree._Element | None) -> None:
        parent = el.getparent()
        if parent is not None and parent is not mine:
            raise XMLError(
                self.where(obj),
                "this object already belongs to another document; pass a .copy()",
            )

    def remove_all(self, obj: XMLObject) -> None:
        parent = self.parent_element(obj, create=False)
        if parent is None:
            return
        for node in list(parent.iterchildren(self.steps[-1][0])):
            parent.remove(node)
        prune(parent, obj._el)
        if obj._kids is not None:
            obj._kids.pop(self.name, None)


class MaybeChild(_ChildBase[C]):
    """An optional child object: reads give None when the element is absent."""

    __slots__ = ()

    def read(self, obj: XMLObject) -> C | None:
        el = walk(obj._el, self.steps)
        return None if el is None else self.cls._wrap(el)

    def check(self, obj: XMLObject) -> None:
        child = self.read(obj)
        if child is not None:
            child._check()

    def write(self, obj: XMLObject, value: C | None) -> None:
        if value is None:
            self.remove_all(obj)
            return
        new = self.adopt(obj, value)
        existing = walk(obj._el, self.steps)
        if existing is new:
            return
        self.check_free(obj, new, None)
        obj._materialize()
        if existing is not None:
            existing.getparent().replace(existing, new)  # type: ignore[union-attr]
        else:
            parent = self.parent_element(obj, create=True)
            insert_ordered(parent, new, self.order_for(obj))  # type: ignore[arg-type]
        if obj._kids is not None:
            obj._kids.pop(self.name, None)

    def build(self, obj: XMLObject, value: C | None) -> None:
        if value is None:
            return
        if len(self.steps) != 1:
            self.write(obj, value)
            return
        # constructors build children in libvirt's order, so this one goes last
        new = self.adopt(obj, value)
        if new.getparent() is not None:
            self.check_free(obj, new, None)
        obj._el.append(new)

    def attach(self, obj: XMLObject, child: XMLObject) -> None:
        """Insert a placeholder child's element the first time something is written to it."""
        existing = walk(obj._el, self.steps)
        if existing is not None:
            # another handle created the element meanwhile; the placeholder is still empty
            child._el = existing
        else:
            parent = self.parent_element(obj, create=True)
            insert_ordered(parent, child._el, self.order_for(obj))  # type: ignore[arg-type]
        if obj._kids is not None:
            obj._kids.pop(self.name, None)

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: XMLObject, owner: type[Any]) -> C | None: ...
    def __get__(self, obj: XMLObject | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        return self.read(obj)

    def __set__(self, obj: XMLObject, value: C | None) -> None:
        self.write(obj, value)


class Child(MaybeChild[C]):
    """A child object that is always there to read and write.

    When the element is absent, reading returns an empty placeholder bound to the
    parent; its element is inserted (in libvirt's order) on the first write, so merely
    looking at ``domain.cpu.mode`` never changes the document.
    """

    __slots__ = ()

    def get(self, obj: XMLObject) -> C:
        el = walk(obj._el, self.steps)
        if el is not None:
            return self.cls._wrap(el)
        kids = obj._kids
        if kids is None:
            kids = obj._kids = {}
        pending = kids.get(self.name)
        if pending is None or pending._pending is None or pending._pending[0] is not obj:
            pending = kids[self.name] = self.cls._placeholder(obj, self)
        return pending  # type: ignore[return-value]  # cached under this field's name

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: XMLObject, owner: type[Any]) -> C: ...
    def __get__(self, obj: XMLObject | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        return self.get(obj)


class ChildList(_ChildBase[C]):
    """Repeated child objects of one class, in document order."""

    __slots__ = ()

    def read(self, obj: XMLObject) -> list[C]:
        parent = self.parent_element(obj, create=False)
        if parent is None:
            return []
        wrap = self.cls._wrap
        return [wrap(el) for el in parent.iterchildren(self.steps[-1][0])]

    def check(self, obj: XMLObject) -> None:
        for child in self.read(obj):
            child._check()

    def write(self, obj: XMLObject, value: Iterable[C] | None) -> None:
        items = list(value or ())
        mine = self.parent_element(obj, create=False)
        elements = [self.adopt(obj, item) for item in items]
        if len({id(el) for el in elements}) != len(elements):
            raise XMLError(self.where(obj), "the same object appears twice in the list")
        for el in elements:
            self.check_free(obj, el, mine)
        self.remove_all(obj)
        if not elements:
            return
        obj._materialize()
        parent = self.parent_element(obj, create=True)
        order = self.order_for(obj)
        for el in elements:
            insert_ordered(parent, el, order)  # type: ignore[arg-type]

    def build(self, obj: XMLObject, value: Iterable[C] | None) -> None:
        if len(self.steps) != 1:
            self.write(obj, value)
            return
        cls = self.cls
        elements = []
        for item in value or ():
            if item.__class__ is not cls:
                self.adopt(obj, item)  # raises unless it is a subclass
            item._pending = None
            new = item._el
            if new.getparent() is not None:
                self.check_free(obj, new, None)
            elements.append(new)
        if len(elements) > 1 and len({id(new) for new in elements}) != len(elements):
            raise XMLError(self.where(obj), "the same object appears twice in the list")
        # constructors build children in libvirt's order, so these go last
        obj._el.extend(elements)

    def add(self, obj: XMLObject, item: C) -> None:
        """Insert one more child after its kind's last sibling."""
        el = self.adopt(obj, item)
        self.check_free(obj, el, None)
        obj._materialize()
        parent = self.parent_element(obj, create=True)
        insert_ordered(parent, el, self.order_for(obj))  # type: ignore[arg-type]

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: XMLObject, owner: type[Any]) -> list[C]: ...
    def __get__(self, obj: XMLObject | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        return self.read(obj)

    def __set__(self, obj: XMLObject, value: Iterable[C] | None) -> None:
        self.write(obj, value)
