"""Tokyo Tyrant table databases: the QueryBuilder and its constants.

A table database (``ttserver casket.tct``) stores records as maps of column
name to column value; the ``TT_TABLE`` serializer converts dicts.  Queries
narrow records by conditions on columns, order them and page through them;
the server runs them (``misc search``).  ``QueryBuilder`` assembles one:

    >>> q = (QueryBuilder()
    ...      .filter('age', OP_NUM_GE, 18)
    ...      .filter('name', OP_STR_STARTSWITH, 'a')
    ...      .order_by('age', ORDER_NUM_DESC)
    ...      .limit(10))
    >>> q.execute(client)           # primary keys
    >>> q.get(client)               # [(key, {column: value}), ...]

``filter``/``order_by``/``limit``/``offset`` change the builder and return
it, so they chain; ``copy()`` gives an independent builder.

Values: string operators take str or bytes; numeric operators take int or
float (or their decimal text); ``OP_NUM_BETWEEN`` takes two numbers and the
"any" operators (``OP_STR_ANY``, ``OP_STR_ANYEXACT``, ``OP_STR_ALL``,
``OP_NUM_ANYEXACT``) take a sequence; full-text operators take str.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from kt.protocol import tt_binary as tb
from kt.serializers import encode_text

__all__ = [
    "QueryBuilder",
    "INDEX_STR", "INDEX_NUM", "INDEX_TOKEN", "INDEX_QGRAM",
    "INDEX_OPTIMIZE", "INDEX_DELETE", "INDEX_KEEP",
    "OP_STR_EQ", "OP_STR_CONTAINS", "OP_STR_STARTSWITH", "OP_STR_ENDSWITH",
    "OP_STR_ALL", "OP_STR_ANY", "OP_STR_ANYEXACT", "OP_STR_REGEX",
    "OP_NUM_EQ", "OP_NUM_GT", "OP_NUM_GE", "OP_NUM_LT", "OP_NUM_LE",
    "OP_NUM_BETWEEN", "OP_NUM_ANYEXACT",
    "OP_FTS_PHRASE", "OP_FTS_ALL", "OP_FTS_ANY", "OP_FTS_EXPRESSION",
    "OP_NEGATE", "OP_NOINDEX",
    "ORDER_STR_ASC", "ORDER_STR_DESC", "ORDER_NUM_ASC", "ORDER_NUM_DESC",
]

# Index types (set_index).
INDEX_STR = tb.INDEX_LEXICAL
INDEX_NUM = tb.INDEX_DECIMAL
INDEX_TOKEN = tb.INDEX_TOKEN
INDEX_QGRAM = tb.INDEX_QGRAM
INDEX_OPTIMIZE = tb.INDEX_OPTIMIZE
INDEX_DELETE = tb.INDEX_VOID
INDEX_KEEP = tb.INDEX_KEEP

# Condition operators.
OP_STR_EQ = tb.COND_STR_EQ
OP_STR_CONTAINS = tb.COND_STR_INC
OP_STR_STARTSWITH = tb.COND_STR_BW
OP_STR_ENDSWITH = tb.COND_STR_EW
OP_STR_ALL = tb.COND_STR_AND
OP_STR_ANY = tb.COND_STR_OR
OP_STR_ANYEXACT = tb.COND_STR_OREQ
OP_STR_REGEX = tb.COND_STR_RX
OP_NUM_EQ = tb.COND_NUM_EQ
OP_NUM_GT = tb.COND_NUM_GT
OP_NUM_GE = tb.COND_NUM_GE
OP_NUM_LT = tb.COND_NUM_LT
OP_NUM_LE = tb.COND_NUM_LE
OP_NUM_BETWEEN = tb.COND_NUM_BT
OP_NUM_ANYEXACT = tb.COND_NUM_OREQ
OP_FTS_PHRASE = tb.COND_FTS_PH
OP_FTS_ALL = tb.COND_FTS_AND
OP_FTS_ANY = tb.COND_FTS_OR
OP_FTS_EXPRESSION = tb.COND_FTS_EX
OP_NEGATE = tb.COND_NEGATE
OP_NOINDEX = tb.COND_NO_INDEX

# Orders.
ORDER_STR_ASC = tb.ORDER_STR_ASC
ORDER_STR_DESC = tb.ORDER_STR_DESC
ORDER_NUM_ASC = tb.ORDER_NUM_ASC
ORDER_NUM_DESC = tb.ORDER_NUM_DESC

_FLAGS = OP_NEGATE | OP_NOINDEX
_NUMERIC = (OP_NUM_EQ, OP_NUM_GT, OP_NUM_GE, OP_NUM_LT, OP_NUM_LE)
_TOKEN_OPS = (OP_STR_ALL, OP_STR_ANY, OP_STR_ANYEXACT, OP_NUM_BETWEEN, OP_NUM_ANYEXACT)

Value = Union[str, bytes, int, float, Sequence[Any]]


def _number(value: Any, what: str) -> bytes:
    if isinstance(value, (str, bytes)):
        text = encode_text(value, what).strip()
        try:
            float(text)
        except ValueError:
            raise ValueError("%s must be a number, not %r" % (what, value)) from None
        return text
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s must be an int or float, not %s" % (what, type(value).__name__))
    return tb.format_number(value)


def encode_expression(op: int, value: Value) -> bytes:
    """The expression text of a condition, checked against its operator."""
    if isinstance(op, bool) or not isinstance(op, int):
        raise TypeError("op must be an int (one of the OP_* constants)")
    base = op & ~_FLAGS
    if base < OP_STR_EQ or base > OP_FTS_EXPRESSION or op & ~(_FLAGS | 0xFF):
        raise ValueError("unknown filter operator %d" % op)
    if base in _TOKEN_OPS:
        if isinstance(value, (str, bytes)):
            tokens = encode_text(value, "value").replace(b",", b" ").split()
        elif isinstance(value, Sequence) or hasattr(value, "__iter__"):
            if base in (OP_NUM_BETWEEN, OP_NUM_ANYEXACT):
                tokens = [_number(v, "value") for v in value]
            else:
                tokens = [encode_text(v, "value") for v in value]
        else:
            raise TypeError("operator %d takes a sequence of values" % base)
        if base == OP_NUM_BETWEEN and len(tokens) != 2:
            raise ValueError("OP_NUM_BETWEEN takes two numbers (low, high), got %d" % len(tokens))
        return tb.join_tokens(list(tokens))
    if base in _NUMERIC:
        return _number(value, "value")
    if base == OP_FTS_EXPRESSION or base >= OP_FTS_PHRASE:
        return encode_text(value, "value")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return tb.format_number(value)
    return encode_text(value, "value")


class QueryBuilder:
    """A table query: conditions, one order, limit and offset."""

    def __init__(self) -> None:
        self._conditions: List[tb.TTCondition] = []
        self._order: Optional[tb.TTOrder] = None
        self._limit: Optional[int] = None
        self._offset: Optional[int] = None

    def copy(self) -> "QueryBuilder":
        """An independent builder with the same conditions, order, limit and
        offset: changing one does not change the other."""
        other = QueryBuilder()
        other._conditions = list(self._conditions)
        other._order = self._order
        other._limit = self._limit
        other._offset = self._offset
        return other

    def filter(self, column: Union[str, bytes], op: int, value: Value) -> "QueryBuilder":
        """Keep records whose ``column`` satisfies ``op`` with ``value``
        (combine ``op`` with OP_NEGATE / OP_NOINDEX by bitwise or)."""
        name = encode_text(column, "column")
        if b"\x00" in name:
            raise ValueError("column names must not contain NUL")
        expr = encode_expression(op, value)
        if b"\x00" in expr:
            raise ValueError("filter values must not contain NUL")
        self._conditions.append(tb.TTCondition(name, op, expr))
        return self

    def order_by(self, column: Union[str, bytes], ordering: Optional[int] = None) -> "QueryBuilder":
        """Order results by ``column`` (ORDER_STR_ASC by default); only one
        order applies, the last one given."""
        kind = ORDER_STR_ASC if ordering is None else ordering
        if kind not in (ORDER_STR_ASC, ORDER_STR_DESC, ORDER_NUM_ASC, ORDER_NUM_DESC):
            raise ValueError("unknown ordering %r" % (ordering,))
        self._order = tb.TTOrder(encode_text(column, "column"), kind)
        return self

    def limit(self, limit: Optional[int] = None) -> "QueryBuilder":
        """At most ``limit`` results (None: no limit)."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ValueError("limit must be a non-negative int or None")
        self._limit = limit
        return self

    def offset(self, offset: Optional[int] = None) -> "QueryBuilder":
        """Skip the first ``offset`` results."""
        if offset is not None and (isinstance(offset, bool) or not isinstance(offset, int) or offset < 0):
            raise ValueError("offset must be a non-negative int or None")
        self._offset = offset
        return self

    def build(self) -> tb.TTQuery:
        """The query as the codec describes it."""
        limit = self._limit
        offset = self._offset or 0
        return tb.TTQuery(
            list(self._conditions),
            [self._order] if self._order is not None else [],
            -1 if limit is None else limit,
            offset,
        )

    def _search(self, **kwargs: Any) -> tb.TTSearch:
        return tb.TTSearch([self.build()], **kwargs)

    def execute(self, client: Any) -> List[Any]:
        """Primary keys of the matching records."""
        return client._search_keys(self._search())  # type: ignore[no-any-return]

    def get(self, client: Any) -> List[Tuple[Any, Dict[Any, Any]]]:
        """(primary key, columns) of the matching records."""
        return client._search_records(self._search(columns=[]))  # type: ignore[no-any-return]

    def delete(self, client: Any) -> bool:
        """Remove the matching records."""
        return client._search_delete(self._search(out=True))  # type: ignore[no-any-return]

    def count(self, client: Any) -> int:
        """Number of matching records."""
        return client._search_count(self._search(count=True))  # type: ignore[no-any-return]

    def hint(self, client: Any) -> str:
        """The server's explanation of how it ran the query (indexes used)."""
        return client._search_hint(self._search(hint=True))  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return "<QueryBuilder %r>" % (self.build(),)
