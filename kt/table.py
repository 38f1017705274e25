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
    """The expression text of a condition, checked against its operator.

    Args:
        op: an ``OP_*`` constant, possibly or-ed with ``OP_NEGATE`` /
            ``OP_NOINDEX``.
        value: the condition's value (see the module docstring for what each
            operator takes).

    Returns:
        The expression as ttserver reads it (bytes).

    Raises:
        TypeError: ``op`` is not an int, or ``value`` has the wrong type for
            ``op``.
        ValueError: ``op`` is unknown, a numeric value is not a number, or
            ``OP_NUM_BETWEEN`` was not given two numbers.
    """
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
    """A table query: conditions, one order, a limit and an offset.

    ``filter``, ``order_by``, ``limit`` and ``offset`` check their
    arguments, change the builder and return it, so that calls chain;
    ``execute``, ``get``, ``delete``, ``count`` and ``hint`` run the query
    on a client's server (misc search), which may be a ttserver or kt's
    built-in server, with the ``TT_TABLE`` serializer or any other.
    """

    def __init__(self) -> None:
        self._conditions: List[tb.TTCondition] = []
        self._order: Optional[tb.TTOrder] = None
        self._limit: Optional[int] = None
        self._offset: Optional[int] = None

    def copy(self) -> "QueryBuilder":
        """An independent copy of this builder.

        Returns:
            A new QueryBuilder with the same conditions, order, limit and offset;
            changing one does not change the other.
        """
        other = QueryBuilder()
        other._conditions = list(self._conditions)
        other._order = self._order
        other._limit = self._limit
        other._offset = self._offset
        return other

    def filter(self, column: Union[str, bytes], op: int, value: Value) -> "QueryBuilder":
        """Keep the records whose ``column`` satisfies ``op`` with ``value``.

        Conditions add up: a record must satisfy every one.

        Args:
            column: the column's name (str or bytes, no NUL).
            op: an ``OP_*`` constant, or-ed with ``OP_NEGATE`` to negate it and
                ``OP_NOINDEX`` to keep the server from using an index.
            value: str or bytes for string operators, int or float (or decimal
                text) for numeric ones, a sequence for ``OP_NUM_BETWEEN`` (low,
                high) and the "any"/"all" operators, str for full-text ones.

        Returns:
            This builder.

        Raises:
            TypeError: ``column`` is not str or bytes, ``op`` not an int, or
                ``value`` has the wrong type for ``op``.
            ValueError: ``op`` is unknown, ``column`` or ``value`` contains NUL,
                a numeric value is not a number, or ``OP_NUM_BETWEEN`` was not
                given two numbers.
        """
        name = encode_text(column, "column")
        if b"\x00" in name:
            raise ValueError("column names must not contain NUL")
        expr = encode_expression(op, value)
        if b"\x00" in expr:
            raise ValueError("filter values must not contain NUL")
        self._conditions.append(tb.TTCondition(name, op, expr))
        return self

    def order_by(self, column: Union[str, bytes], ordering: Optional[int] = None) -> "QueryBuilder":
        """Order the results by ``column``.

        Only one order applies: the last one given.

        Args:
            column: the column's name (str or bytes).
            ordering: ``ORDER_STR_ASC`` (the default, for None),
                ``ORDER_STR_DESC``, ``ORDER_NUM_ASC`` or ``ORDER_NUM_DESC``.

        Returns:
            This builder.

        Raises:
            TypeError: ``column`` is not str or bytes.
            ValueError: ``ordering`` is not one of the ``ORDER_*`` constants.
        """
        kind = ORDER_STR_ASC if ordering is None else ordering
        if kind not in (ORDER_STR_ASC, ORDER_STR_DESC, ORDER_NUM_ASC, ORDER_NUM_DESC):
            raise ValueError("unknown ordering %r" % (ordering,))
        self._order = tb.TTOrder(encode_text(column, "column"), kind)
        return self

    def limit(self, limit: Optional[int] = None) -> "QueryBuilder":
        """Return at most ``limit`` results.

        Args:
            limit: the most results (None: no limit).

        Returns:
            This builder.

        Raises:
            ValueError: ``limit`` is not a non-negative int (nor None).
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ValueError("limit must be a non-negative int or None")
        self._limit = limit
        return self

    def offset(self, offset: Optional[int] = None) -> "QueryBuilder":
        """Skip the first ``offset`` results.

        Args:
            offset: how many results to skip (None: none).

        Returns:
            This builder, so that calls chain.

        Raises:
            ValueError: ``offset`` is negative, or neither an int nor None.
        """
        if offset is not None and (isinstance(offset, bool) or not isinstance(offset, int) or offset < 0):
            raise ValueError("offset must be a non-negative int or None")
        self._offset = offset
        return self

    def build(self) -> tb.TTQuery:
        """The query as the codec (kt.protocol.tt_binary) describes it.

        Returns:
            A ``TTQuery``: copies of the conditions and the order, the limit
            (-1: none) and the offset.
        """
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
        """Run the query: the primary keys of the matching records.

        Args:
            client: the TokyoTyrant client (sync or asyncio) of a table database.

        Returns:
            A list of primary keys (str, or bytes when ``decode_keys`` is off or
            a key is not UTF-8), in the query's order.

        Raises:
            TokyoTyrantError: the search failed (the database is not a table database).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return client._search_keys(self._search())  # type: ignore[no-any-return]

    def get(self, client: Any) -> List[Tuple[Any, Dict[Any, Any]]]:
        """Run the query: the matching records with their columns.

        Args:
            client: the client whose table database is searched.

        Returns:
            A list of (primary key, {column: value}) tuples in the query's order;
            column names and values are str (bytes when not valid UTF-8),
            whatever the client's serializer.

        Raises:
            TokyoTyrantError: the server could not search (not a table database).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return client._search_records(self._search(columns=[]))  # type: ignore[no-any-return]

    def delete(self, client: Any) -> bool:
        """Run the query: remove the matching records.

        Args:
            client: the client of the table database to delete from.

        Returns:
            True (also when nothing matched).

        Raises:
            TokyoTyrantError: the deletion failed; the database is probably not a table one.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return client._search_delete(self._search(out=True))  # type: ignore[no-any-return]

    def count(self, client: Any) -> int:
        """Run the query: the number of matching records.

        Args:
            client: the client that runs the count.

        Returns:
            The count (int); ``limit`` and ``offset`` apply to it.

        Raises:
            TokyoTyrantError: no count (not a table database).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return client._search_count(self._search(count=True))  # type: ignore[no-any-return]

    def hint(self, client: Any) -> str:
        """Run the query: the server's account of how it ran it.

        Args:
            client: the client whose server explains the query.

        Returns:
            The hint text (str), as ttserver words it: the index used or a scan
            of the whole table, the size of the result set, the sorting.

        Raises:
            TokyoTyrantError: the server could not run the query: the database is
                not a table database.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return client._search_hint(self._search(hint=True))  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return "<QueryBuilder %r>" % (self.build(),)
