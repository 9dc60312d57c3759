"""Per-class builders and checkers, generated from the field declarations.

A constructor could call every field's ``write`` in turn, and a parse could call every
field's ``check``; both spend most of their time in Python call overhead. Like
:mod:`dataclasses`, this module instead writes one plain function per class from the
declarations (once, on first use): the builder creates each element once, in libvirt's
order, and sets its attributes inline; the checker visits only the attributes and
elements present. Both fall back to the field's own methods for anything unusual, so
their behaviour is defined by the fields and these functions only make it fast.

The generated source contains only names from the class declarations (written with
``repr``) and references to constants; no document or user value ever becomes code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxml import etree

from zcompute.errors import XMLError
from zcompute.xml._children import ChildList, MaybeChild
from zcompute.xml._convert import STR, BadValue, Choice, Int
from zcompute.xml._fields import Attr, AttrList, Field, Scalar, Text
from zcompute.xml._tree import Step

if TYPE_CHECKING:
    from zcompute.xml._object import XMLObject

__all__ = ["compile_builder", "compile_checker"]

Builder = Callable[["XMLObject", dict[str, Any]], None]
Checker = Callable[..., None]  # (element[, parent element])


@dataclass
class _Node:
    """One element of the shape a class's fields describe (the root is the object)."""

    step: Step | None
    attrs: list[Field[Any]] = field(default_factory=list)
    text: Field[Any] | None = None
    kids: list[_Node | Field[Any]] = field(default_factory=list)

    def child(self, step: Step) -> _Node:
        for kid in self.kids:
            if isinstance(kid, _Node) and kid.step == step:
                return kid
        node = _Node(step)
        self.kids.append(node)
        return node

    def names(self) -> Iterator[str]:
        """Names of all fields stored in this element or below it."""
        for f in (*self.attrs, *([self.text] if self.text else [])):
            yield f.name
        for kid in self.kids:
            yield from kid.names() if isinstance(kid, _Node) else (kid.name,)


def _shape(cls: type[XMLObject], names: frozenset[str] | None = None) -> _Node:
    """The element tree ``cls``'s fields describe (only those in ``names`` if given)."""
    root = _Node(None)
    for f in cls._fields.values():
        if names is not None and f.name not in names:
            continue
        node = root
        if isinstance(f, Scalar):
            for step in f.steps:
                node = node.child(step)
            if f.attr is None:
                node.text = f
            else:
                node.attrs.append(f)
        else:
            for step in f.steps[:-1]:
                node = node.child(step)
            node.kids.append(f)
    _sort(cls, root, 0, "")
    return root


def _tag(kid: _Node | Field[Any]) -> str:
    if isinstance(kid, _Node):
        return kid.step[0] if kid.step else ""
    return kid.steps[-1][0] if kid.steps else ""


def _sort(cls: type[XMLObject], node: _Node, depth: int, tag: str) -> None:
    """Order each level's children as libvirt writes them (unranked ones last)."""
    table = cls._order if depth == 0 else cls._suborders.get(tag, {}) if depth == 1 else {}
    ranks = {id(k): (table.get(_tag(k), math.inf), i) for i, k in enumerate(node.kids)}
    node.kids.sort(key=lambda k: ranks[id(k)])
    for kid in node.kids:
        if isinstance(kid, _Node):
            _sort(cls, kid, depth + 1, _tag(kid))


class _Writer:
    """Accumulates generated source and the constants it refers to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.env: dict[str, Any] = {"SubElement": etree.SubElement, "BadValue": BadValue}
        self.count = 0

    def const(self, value: Any) -> str:
        self.count += 1
        name = f"_k{self.count}"
        self.env[name] = value
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def function(self, name: str) -> Any:
        exec("\n".join(self.lines), self.env)
        return self.env[name]


# -- builders ---------------------------------------------------------------------


def _value_expr(w: _Writer, f: Field[Any]) -> str:
    """An expression turning ``v`` into attribute text; may raise BadValue."""
    conv = getattr(f, "conv", None)
    if type(f) not in (Attr, Text):
        # specialised fields (an address's bus) format with the object at hand
        return f"{w.const(f)}.format(self, v)"
    ref = w.const(conv)
    if conv is STR:
        return f"v if v.__class__ is str else {ref}.format(v)"
    if isinstance(conv, Choice):
        return f"v if v.__class__ is str and v in {w.const(conv.values)} else {ref}.format(v)"
    return f"{ref}.format(v)"


def _set_value(w: _Writer, f: Field[Any], target: str, indent: int, get: str) -> None:
    """Emit code setting ``target`` (``el.set('x', {})`` or ``el.text = {}``) from ``v``."""
    w.emit(indent, f"v = {get.format(f.name)}")
    w.emit(indent, "if v is not None:")
    w.emit(indent + 1, "try:")
    w.emit(indent + 2, target.format(_value_expr(w, f)))
    w.emit(indent + 1, "except BadValue as bad:")
    w.emit(indent + 2, f"raise {w.const(f)}.error(self, bad) from None")


def _build_node(w: _Writer, node: _Node, var: str, indent: int, get: str) -> None:
    for f in node.attrs:
        _set_value(w, f, f"{var}.set({f.attr!r}, {{}})", indent, get)
    if node.text is not None:
        _set_value(w, node.text, f"{var}.text = {{}}", indent, get)
        for key, value in node.text.FIXED:
            w.emit(indent + 1, f"{var}.set({key!r}, {value!r})")
    for kid in node.kids:
        if isinstance(kid, _Node):
            assert kid.step is not None
            tag, selector, selected = kid.step
            present = " or ".join(f"{get.format(n)} is not None" for n in kid.names())
            sub = f"n{indent}"
            w.emit(indent, f"if {present}:")
            w.emit(indent + 1, f"{sub} = SubElement({var}, {tag!r})")
            if selector is not None:
                w.emit(indent + 1, f"{sub}.set({selector!r}, {selected!r})")
            _build_node(w, kid, sub, indent + 1, get)
        else:
            # objects, lists, flags, sizes: the field inserts them where they belong
            w.emit(indent, f"v = {get.format(kid.name)}")
            w.emit(indent, "if v is not None:")
            w.emit(indent + 1, f"{w.const(kid)}.build(self, v)")


def compile_builder(cls: type[XMLObject], names: frozenset[str] | None = None) -> Builder:
    """``build(obj, values)`` filling a new, empty ``obj`` from keyword values.

    With ``names`` the function handles exactly those keywords (the caller picked it
    for that set), skipping every other field; without, it handles any subset.
    """
    unknown = sorted(set(names or ()) - set(cls._fields))
    if unknown:
        raise XMLError(cls.TAG, f"unknown field {unknown[0]!r}", sorted(cls._fields))
    w = _Writer()
    w.emit(0, "def build(self, kw):")
    if names is None:
        known = w.const(frozenset(cls._fields))
        w.emit(1, f"if not {known}.issuperset(kw):")
        w.emit(2, f"{w.const(_unknown)}({w.const(cls)}, kw)")
        w.emit(1, "get = kw.get")
        getter = "get({!r})"
    else:
        getter = "kw[{!r}]"
    w.emit(1, "el = self._el")
    _build_node(w, _shape(cls, names), "el", 1, getter)
    return w.function("build")  # type: ignore[no-any-return]


def _unknown(cls: type[XMLObject], values: dict[str, Any]) -> None:
    unknown = sorted(set(values) - set(cls._fields))
    raise XMLError(cls.TAG, f"unknown field {unknown[0]!r}", sorted(cls._fields))


# -- checkers ---------------------------------------------------------------------


def _fail(f: Field[Any], cls: type[XMLObject], raw: str) -> None:
    """Raise the XMLError the field's converter gives for ``raw``."""
    try:
        f.conv.parse(raw)  # type: ignore[attr-defined]
    except BadValue as bad:
        raise XMLError(f"{cls.TAG}/{f.path}", bad.message, bad.allowed) from None


def _check_value(w: _Writer, cls: type[XMLObject], f: Field[Any], indent: int) -> None:
    """Check ``v`` (not None) with the field's converter."""
    conv = getattr(f, "conv", None)
    ref, owner = w.const(f), w.const(cls)
    if isinstance(conv, Choice):
        w.emit(indent, f"if v not in {w.const(conv.values)}:")
        w.emit(indent + 1, f"{w.const(_fail)}({ref}, {owner}, v)")
    elif isinstance(conv, Int):
        # values seen before are known to be good (see Int.seen)
        w.emit(indent, f"if v not in {w.const(conv.seen)}:")
        w.emit(indent + 1, "try:")
        w.emit(indent + 2, f"{w.const(conv)}.parse(v)")
        w.emit(indent + 1, "except BadValue:")
        w.emit(indent + 2, f"{w.const(_fail)}({ref}, {owner}, v)")
    else:
        w.emit(indent, "try:")
        w.emit(indent + 1, f"{w.const(conv)}.parse(v)")
        w.emit(indent, "except BadValue:")
        w.emit(indent + 1, f"{w.const(_fail)}({ref}, {owner}, v)")


def _check_kid(w: _Writer, cls: type[XMLObject], kid: Field[Any], indent: int) -> None:
    """Check one special field given its element ``n`` (and the object's element ``el``)."""
    if isinstance(kid, MaybeChild | ChildList):
        # the child class's own checker, resolved (compiled) now for a direct call
        w.emit(indent, f"{w.const(kid.cls._checker())}(n)")
    elif isinstance(kid, AttrList):
        w.emit(indent, f"v = n.get({kid.attr!r})")
        w.emit(indent, "if v is not None:")
        _check_value(w, cls, kid, indent + 1)
    else:
        w.emit(indent, f"{w.const(kid)}.check({w.const(cls)}._wrap(el))")


def _checks_anything(kid: _Node | Field[Any]) -> bool:
    if not isinstance(kid, _Node):
        return kid.needs_check
    own = [*kid.attrs, *([kid.text] if kid.text else [])]
    return any(f.needs_check for f in own) or any(_checks_anything(k) for k in kid.kids)


def _check_own(w: _Writer, cls: type[XMLObject], node: _Node, var: str, indent: int) -> None:
    """Check the attributes and text of element ``var`` (shape ``node``)."""
    for f in node.attrs:
        if type(f) is not Attr:
            # specialised attributes (an address's bus) know best how to check themselves
            w.emit(indent, f"{w.const(f)}.check({w.const(cls)}._wrap(el))")
        elif f.needs_check:
            w.emit(indent, f"v = {var}.get({f.attr!r})")
            w.emit(indent, "if v is not None:")
            _check_value(w, cls, f, indent + 1)
    text = node.text
    if text is None or not text.needs_check:
        return
    if type(text) is Text:
        w.emit(indent, f"v = {var}.text")
        w.emit(indent, "if v is not None:")
        _check_value(w, cls, text, indent + 1)
        return
    # sizes: an amount of the usual spelling in a usual unit is checked here, anything
    # else (no amount, another unit) by the field itself, which knows every unit
    w.emit(indent, f"v = {var}.text")
    w.emit(indent, f"u = {var}.get('unit')")
    w.emit(indent, f"if v is None or (u is not None and u not in {w.const(_UNITS)}):")
    w.emit(indent + 1, f"{w.const(text)}.check({w.const(cls)}._wrap(el))")
    w.emit(indent, "else:")
    _check_value(w, cls, text, indent + 1)


_UNITS = frozenset({"KiB", "k", "K", "b", "bytes", "MiB", "M", "GiB", "G", "TiB", "T"})


def _check_node(w: _Writer, cls: type[XMLObject], node: _Node, name: str) -> None:
    """Emit ``def name(n, el)`` checking element ``n`` of shape ``node``.

    Child elements are dispatched on their tag: child objects go to their class's
    checker, other elements with children to handler functions emitted first, simple
    ones are checked inline in the loop; elements with nothing to check are skipped.
    ``el`` is the object's own element (fields that check themselves need the object);
    the root function makes it ``n``, so a parent may call it with its own.
    """
    inline: dict[str, _Node] = {}
    table: dict[str, list[str]] = {}
    for index, kid in enumerate(node.kids):
        if not _checks_anything(kid):
            continue
        tag = _tag(kid)
        simple = isinstance(kid, _Node) and kid.step and kid.step[1] is None and not kid.kids
        if simple and tag not in inline and tag not in table:
            inline[tag] = kid  # type: ignore[assignment]
            continue
        sub = f"{name}_{index}"
        if isinstance(kid, _Node):
            _check_node(w, cls, kid, sub)
        elif isinstance(kid, MaybeChild | ChildList) and len(kid.steps) == 1:
            # a child object: its class's checker is the handler (it takes (n, el) too)
            sub = w.const(kid.cls._checker())
        else:
            w.emit(0, f"def {sub}(n, el):")
            _check_kid(w, cls, kid, 1)
        table.setdefault(tag, []).append(sub)
    for tag in [t for t in inline if t in table]:
        # a tag shared with a handler: keep everything for that tag in the handlers
        sub = f"{name}_inline_{len(table)}"
        _check_node(w, cls, inline.pop(tag), sub)
        table[tag].append(sub)
    entries: list[str] = []
    for tag, subs in table.items():
        if len(subs) > 1:
            # several fields share the tag (a list and selected members): run them all
            w.emit(0, f"def {name}_{len(entries)}_all(n, el):")
            for sub in subs:
                w.emit(1, f"{sub}(n, el)")
            subs = [f"{name}_{len(entries)}_all"]
        entries.append(f"{tag!r}: {subs[0]}")
    if entries:
        w.emit(0, f"{name}_table = {{{', '.join(entries)}}}")
    root = node.step is None
    w.emit(0, f"def {name}(n, el=None):" if root else f"def {name}(n, el):")
    if root:
        w.emit(1, "el = n  # the object's own element (a parent may pass its own)")
    if node.step is not None and node.step[1] is not None:
        w.emit(1, f"if n.get({node.step[1]!r}) != {node.step[2]!r}:")
        w.emit(2, "return")
    _check_own(w, cls, node, "n", 1)
    if inline or entries:
        if entries:
            w.emit(1, f"get = {name}_table.get")
        w.emit(1, "for c in n:")
        w.emit(2, "t = c.tag")
        keyword = "if"
        if entries:
            w.emit(2, "h = get(t)")
            w.emit(2, "if h is not None:")
            w.emit(3, "h(c, el)")
            keyword = "elif"
        for tag, kid in inline.items():
            w.emit(2, f"{keyword} t == {tag!r}:")
            _check_own(w, cls, kid, "c", 3)
            keyword = "elif"
    w.emit(1, "return")


def compile_checker(cls: type[XMLObject]) -> Checker:
    """``check(el)`` raising XMLError for the first modelled value ``el`` cannot hold."""
    w = _Writer()
    _check_node(w, cls, _shape(cls), "check")
    return w.function("check")  # type: ignore[no-any-return]
