"""The constants of the original kt library's ``kt.constants`` module, under
the same names and with the same values: table query operators (``OP_*``),
orders (``ORDER_*``), index types (``INDEX_*``) and index operations
(``IOP_*``).

Who uses it: code written for the original library (``from kt.constants
import ...``).  The values come from kt.table, which defines them for
QueryBuilder and ``set_index``; they are importable from ``kt`` too.
"""

from __future__ import annotations

# The OP_*, ORDER_* and INDEX_* constants (kt.table's __all__, with
# QueryBuilder, which is not part of this module's __all__).
from kt.table import *  # noqa: F401,F403
from kt.table import INDEX_DELETE, INDEX_KEEP, INDEX_OPTIMIZE

#: ``set_index`` operations, under the original library's names.
IOP_OPTIMIZE = INDEX_OPTIMIZE
IOP_DELETE = INDEX_DELETE
IOP_KEEP = INDEX_KEEP

__all__ = [
    "OP_STR_EQ", "OP_STR_CONTAINS", "OP_STR_STARTSWITH", "OP_STR_ENDSWITH", "OP_STR_ALL",
    "OP_STR_ANY", "OP_STR_ANYEXACT", "OP_STR_REGEX", "OP_NUM_EQ", "OP_NUM_GT", "OP_NUM_GE",
    "OP_NUM_LT", "OP_NUM_LE", "OP_NUM_BETWEEN", "OP_NUM_ANYEXACT", "OP_FTS_PHRASE",
    "OP_FTS_ALL", "OP_FTS_ANY", "OP_FTS_EXPRESSION", "OP_NEGATE", "OP_NOINDEX",
    "ORDER_STR_ASC", "ORDER_STR_DESC", "ORDER_NUM_ASC", "ORDER_NUM_DESC",
    "INDEX_STR", "INDEX_NUM", "INDEX_TOKEN", "INDEX_QGRAM",
    "IOP_OPTIMIZE", "IOP_DELETE", "IOP_KEEP",
]
