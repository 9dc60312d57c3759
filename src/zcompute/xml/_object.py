"""The base of every typed XML object: bound to one lxml element, lossless by design."""

from __future__ import annotations

import copy
import re
import threading
from typing import TYPE_CHECKING, Any, ClassVar, Self, dataclass_transform

from lxml import etree

from zcompute.errors import XMLError
from zcompute.xml._compile import compile_builder, compile_checker
from zcompute.xml._fields import Field

if TYPE_CHECKING:
    from zcompute.xml._children import MaybeChild
    from zcompute.xml._compile import Builder, Checker

__all__ = ["XMLObject", "parse_element"]

_new_element = etree.Element
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_local = threading.local()


def _parser() -> etree.XMLParser:
    """One parser per thread (lxml parsers keep per-parse state)."""
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        # remove_blank_text lets pretty_print indent new elements like libvirt does;
        # entities and network access stay off: domain XML may come from users
        parser = etree.XMLParser(
            remove_blank_text=True,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
        )
        _local.parser = parser
    return parser


def parse_element(text: str | bytes, what: str) -> etree._Element:
    """Parse ``text`` into an element; malformed input raises XMLError naming ``what``."""
    if isinstance(text, str):
        # lxml refuses str input that carries an encoding declaration; the text is
        # already decoded, so the declaration has nothing left to say
        data: str | bytes = _DECLARATION.sub("", text, count=1) if "<?xml" in text[:64] else text
    elif isinstance(text, bytes):
        data = text
    else:
        raise XMLError(what, f"expected XML text (str or bytes), got {type(text).__name__}")
    try:
        return etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as err:
        raise XMLError(what, f"malformed XML: {err}") from None


def _orders(
    order: tuple[str, ...], ns: str | None
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Rank tables from ``ORDER``: ``"tag"`` entries rank direct children,
    ``"parent/tag"`` entries rank the children of one direct child."""
    top: dict[str, int] = {}
    sub: dict[str, dict[str, int]] = {}
    for rank, entry in enumerate(order):
        names = [f"{{{ns}}}{n}" if ns else n for n in entry.split("/")]
        if len(names) == 1:
            top[names[0]] = rank
        else:
            sub.setdefault(names[0], {})[names[1]] = rank
    return top, sub


@dataclass_transform(kw_only_default=True)
class XMLObject:
    """A typed view of one element; fields read and write the element directly.

    Subclasses declare ``TAG`` (and ``NS`` for a namespaced element), ``ORDER`` (the
    order libvirt writes the direct children in, used when creating elements) and one
    descriptor per modelled field. Everything else in the element is left untouched.
    """

    __slots__ = ("_el", "_kids", "_pending")

    TAG: ClassVar[str] = ""
    NS: ClassVar[str | None] = None
    PREFIX: ClassVar[str | None] = None
    ORDER: ClassVar[tuple[str, ...]] = ()

    QTAG: ClassVar[str] = ""
    _nsmap: ClassVar[dict[str | None, str] | None] = None
    _order: ClassVar[dict[str, int]] = {}
    _suborders: ClassVar[dict[str, dict[str, int]]] = {}
    _fields: ClassVar[dict[str, Field[Any]]] = {}
    # generated on first use by zcompute.xml._compile (per class, not inherited)
    _builders: ClassVar[dict[tuple[str, ...] | None, Builder]] = {}
    _checker_fn: ClassVar[Checker | None] = None
    #: How many keyword combinations get their own builder before a generic one is used.
    MAX_BUILDERS: ClassVar[int] = 64

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        ns = cls.NS
        cls.QTAG = f"{{{ns}}}{cls.TAG}" if ns else cls.TAG
        cls._order, cls._suborders = _orders(cls.ORDER, ns)
        fields: dict[str, Field[Any]] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, Field):
                    fields[name] = value
        cls._fields = fields
        cls._builders = {}
        cls._checker_fn = None
        cls._nsmap = {cls.PREFIX: ns} if ns and cls.PREFIX else None

    def __init__(self, **values: Any) -> None:
        self._el: etree._Element = _new_element(self.QTAG, None, self._nsmap)
        # (parent, field) while this is a placeholder for an absent child element
        self._pending: tuple[XMLObject, MaybeChild[Any]] | None = None
        self._kids: dict[str, XMLObject] | None = None
        if values:
            # a function specialised for this set of keywords (see _compile)
            build = self._builders.get(tuple(values))
            if build is None:
                build = type(self)._builder_for(tuple(values))
            # an error here propagates out of __init__: no half-built object escapes
            build(self, values)

    # -- construction -------------------------------------------------------------

    @classmethod
    def _new_element(cls) -> etree._Element:
        return _new_element(cls.QTAG, None, cls._nsmap)

    @classmethod
    def _builder_for(cls, names: tuple[str, ...]) -> Builder:
        """Compile (and remember) the builder for one combination of keywords."""
        builders = cls._builders
        if len(builders) < cls.MAX_BUILDERS:
            build = compile_builder(cls, frozenset(names))
            builders[names] = build
            return build
        generic = builders.get(None)
        if generic is None:
            generic = builders[None] = compile_builder(cls)
        return generic

    @classmethod
    def _wrap(cls, el: etree._Element) -> Self:
        """Bind a new handle to an existing element (no copying, no checks)."""
        obj = cls.__new__(cls)
        obj._el = el
        obj._pending = None
        obj._kids = None
        return obj

    @classmethod
    def _placeholder(cls, parent: XMLObject, slot: MaybeChild[Any]) -> Self:
        """An empty handle for an absent child, inserted into ``parent`` on first write."""
        obj = cls._wrap(cls._new_element())
        obj._pending = (parent, slot)
        return obj

    def _materialize(self) -> None:
        """Make sure this object's element is in the document (see :class:`Child`)."""
        pending = self._pending
        if pending is not None:
            parent, slot = pending
            parent._materialize()
            slot.attach(parent, self)
            self._pending = None

    @classmethod
    def from_xml(cls, text: str | bytes) -> Self:
        """Parse ``text`` whose root must be this class's element.

        Every declared field is read once so that a bad value (unknown enum value,
        out-of-range address, broken integer) raises XMLError here rather than later.
        """
        root = parse_element(text, cls.TAG)
        if root.tag != cls.QTAG:
            raise XMLError(
                cls.TAG,
                f"expected a <{cls.TAG}> element, got <{root.tag!s}>",
                f"<{cls.TAG}>",
            )
        obj = cls._wrap(root)
        obj._check()
        return obj

    def _check(self) -> None:
        """Read every modelled value present once; the first bad one raises XMLError."""
        type(self)._check_element(self._el)

    @classmethod
    def _check_element(cls, el: etree._Element) -> None:
        cls._checker()(el)

    @classmethod
    def _checker(cls) -> Checker:
        """The function checking an element of this class (compiled on first use)."""
        check = cls._checker_fn
        if check is None:
            check = cls._checker_fn = compile_checker(cls)
        return check

    def to_xml(self) -> str:
        """Serialise this object's element (indented with two spaces, like libvirt)."""
        el = self._el
        tree = el.getroottree()
        if tree.getroot() is el:
            # the whole tree keeps comments and processing instructions around the root
            return etree.tostring(tree, encoding="unicode", pretty_print=True)
        # a device inside a domain, or one removed from it (which stays in that document)
        return etree.tostring(el, encoding="unicode", pretty_print=True, with_tail=False)

    def copy(self) -> Self:
        """A deep, free-standing copy (e.g. to add the same device to another domain)."""
        return type(self)._wrap(copy.deepcopy(self._el))

    @property
    def element(self) -> etree._Element:
        """The bound lxml element, for XML this layer does not model."""
        return self._el

    @property
    def exists(self) -> bool:
        """False for a placeholder whose element has not been created yet."""
        return self._pending is None

    def __eq__(self, other: object) -> bool:
        """Two handles are equal when they are bound to the same element."""
        return isinstance(other, XMLObject) and other._el is self._el

    def __hash__(self) -> int:
        return hash(self._el)

    def __repr__(self) -> str:
        attrs = " ".join(f"{k}={v!r}" for k, v in self._el.attrib.items())
        return f"<{type(self).__name__} <{self.TAG}{' ' if attrs else ''}{attrs}>>"
