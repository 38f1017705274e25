"""One table query of the built-in Tokyo Tyrant server, run the way Tokyo
Cabinet's tctdbqrysearchimpl() runs it, so that its answers are ttserver's.

Called by kt.server.tyrant.table (``TableDatabase.run_query``).

Tokyo Cabinet picks, in the order the conditions were added, a main
condition that an index serves (lexical: STREQ/STRBW/STROREQ; decimal: the
numeric operators; token: STRAND/STROR; q-gram: full text), a second one
whose index narrows the candidates, or else a condition that an index can
filter entry by entry; without any, an index of the order column when a
limit makes that worthwhile, else it scans the table.  What an index walk
finds is not checked against its own condition again, and a decimal index
is walked in tccmpdecimal() order with bounds read by atof, which misses or
adds records that a scan would treat otherwise (``NUMGE 2.5`` starting at
the keys whose integer part is 2, ``NUMLE 0`` stopping before a value
that starts with a byte above 0x7F).  Every branch here follows one of
tctdbqrysearchimpl(); the hint lines are its lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, List, Optional, Set

from kt.protocol import tt_binary as tb
from kt.server.cnum import tc_atof

if TYPE_CHECKING:
    from kt.server.tyrant.table import Condition, Index, TableDatabase, TreeIndex

INT_MAX: Final = 2147483647
ORDER_RATIO: Final = 0.2  # TDBORDRATIO: an order index is tried below this share of records

_MAIN_LEXICAL: Final = (tb.COND_STR_EQ, tb.COND_STR_BW, tb.COND_STR_OREQ)
_MAIN_DECIMAL: Final = (tb.COND_NUM_EQ, tb.COND_NUM_GT, tb.COND_NUM_GE, tb.COND_NUM_LT,
                 tb.COND_NUM_LE, tb.COND_NUM_BT, tb.COND_NUM_OREQ)
_MAIN_TOKEN: Final = (tb.COND_STR_AND, tb.COND_STR_OR)


def _cstr(value: bytes) -> bytes:
    nul = value.find(b"\x00")
    return value if nul < 0 else value[:nul]


def _key_num(key: bytes) -> float:
    """tctdbatof() of an index key (a C string: the value before its NUL)."""
    return tc_atof(_cstr(key))


def _split_tokens(expr: bytes) -> List[bytes]:
    """tcstrsplit(expr, "\\t\\n\\r ,"): empty tokens kept."""
    out = [expr]
    for sep in (b"\t", b"\n", b"\r", b" ", b","):
        parts: List[bytes] = []
        for piece in out:
            parts.extend(piece.split(sep))
        out = parts
    return out


def _between(expr: bytes) -> List[bytes]:
    """The two bounds of NUMBT as tctdbqrysearchimpl() cuts them (the
    lower one first); each is read with tctdbatof()."""
    i = 0
    n = len(expr)
    while i < n and expr[i] in b" ,":
        i += 1
    j = i
    while j < n and expr[j] not in b" ,":
        j += 1
    low = expr[i:j]
    k = j + 1
    while k < n and expr[k] in b" ,":
        k += 1
    high = expr[k:] if j < n else b""
    if tc_atof(low) > tc_atof(high):
        return [high, low]
    return [low, high]


def _tree(index: "Index") -> Optional["TreeIndex"]:
    """The index as a lexical or decimal B+ tree, or None."""
    from kt.server.tyrant.table import TreeIndex

    return index if isinstance(index, TreeIndex) else None


class Search:
    """One run of tctdbqrysearchimpl()."""

    def __init__(self, db: "TableDatabase", conds: List["Condition"], limit: int, offset: int,
                 oname: Optional[bytes], otype: int, hint: List[str]) -> None:
        self.db = db
        self.conds = conds
        self.alive = [True] * len(conds)
        self.skip = offset if offset > 0 else 0
        self.max = limit if limit >= 0 else INT_MAX
        if self.max < INT_MAX - self.skip:
            self.max += self.skip
        self.oname = oname
        self.ordered = oname is not None
        self.otype = otype
        self.hint = hint
        self.res: List[bytes] = []
        self.nmap: Optional[Set[bytes]] = None
        self.single: Optional[int] = None
        self.acnum = len(conds)

    def note(self, text: str) -> None:
        self.hint.append(text)

    def name(self, cond: "Condition") -> str:
        return cond.column.decode("utf-8", "replace")

    # -- checking the records an index gives -------------------------------
    def kill(self, i: int) -> None:
        self.alive[i] = False
        self.acnum -= 1

    def pick_single(self) -> None:
        """The only condition left alive, if exactly one is (ucond)."""
        found: Optional[int] = None
        for i, alive in enumerate(self.alive):
            if not alive:
                continue
            if found is not None:
                found = None
                break
            found = i
        self.single = found

    def check(self, pk: bytes) -> bool:
        """tctdbqryonecondmatch / tctdbqryallcondmatch on a primary key."""
        cols = self.db.records.get(pk)
        if self.single is not None:
            cond = self.conds[self.single]
            if not cond.column:
                return cond.hit(pk) == cond.sign
            return cols is not None and cond.matches(pk, cols)
        if cols is None:
            return False
        for i, cond in enumerate(self.conds):
            if self.alive[i] and not cond.matches(pk, cols):
                return False
        return True

    def offer(self, pk: bytes) -> None:
        if self.nmap is not None and pk not in self.nmap:
            return
        if self.acnum < 1 or self.check(pk):
            self.res.append(pk)

    def room(self, walk_all: bool) -> bool:
        return walk_all or len(self.res) < self.max

    # -- the plan ----------------------------------------------------------
    def run(self) -> List[bytes]:
        main, aux, scan_idx = self.choose()
        used = False
        if main >= 0:
            used = True
            self.main_index(main, aux)
        elif scan_idx >= 0:
            used = True
            self.filter_index(scan_idx)
        if not used and self.oname is not None and self.max < len(self.db.records) * ORDER_RATIO:
            used = self.order_index()
        if not used:
            self.scan()
        self.note("result set size: %d\n" % len(self.res))
        self.sort()
        return self.cut()

    def index_of(self, cond: "Condition") -> Optional["Index"]:
        return self.db.indexes.get(cond.column)

    def choose(self) -> List[int]:
        """mcond, ncond and scond of tctdbqrysearchimpl (-1: none)."""
        main = aux = scan_idx = -1
        for i, cond in enumerate(self.conds):
            if not cond.sign or cond.noidx:
                continue
            index = self.index_of(cond)
            if index is None:
                continue
            op = cond.op
            kind = index.type_code
            if kind == tb.INDEX_LEXICAL:
                serves = op in _MAIN_LEXICAL
            elif kind == tb.INDEX_DECIMAL:
                serves = op in _MAIN_DECIMAL
            elif kind == tb.INDEX_TOKEN:
                serves = op in _MAIN_TOKEN
            else:
                serves = tb.COND_FTS_PH <= op <= tb.COND_FTS_EX
            if serves:
                if main < 0:
                    main = i
                elif aux < 0:
                    aux = i
            elif kind in (tb.INDEX_LEXICAL, tb.INDEX_DECIMAL) and scan_idx < 0:
                scan_idx = i
        return [main, aux, scan_idx]

    def main_index(self, main: int, aux: int) -> None:
        cond = self.conds[main]
        index = self.index_of(cond)
        assert index is not None
        self.kill(main)
        if aux >= 0:
            self.kill(aux)
            aux_index = self.index_of(self.conds[aux])
            assert aux_index is not None
            self.nmap = self.fetch(self.conds[aux], aux_index)
            self.max = min(self.max, len(self.nmap))
        self.pick_single()
        op = cond.op
        tree = _tree(index)
        if tree is not None:
            self.walk_tree(cond, tree, False)
            return
        # token and q-gram indexes: the set they give, in natural order;
        # the condition is checked again (kt's token and q-gram sets are
        # those of Tokyo Cabinet)
        self.alive[main] = True
        self.acnum += 1
        self.pick_single()
        what = "FTS" if index.type_code == tb.INDEX_QGRAM else (
            "STRAND" if op == tb.COND_STR_AND else "STROR")
        self.note('using an index: "%s" inverted (%s)\n' % (self.name(cond), what))
        walk_all = self.oname is not None
        self.limited(walk_all)
        self.offer_all(self.db.natural(index.candidates(cond) or set()), walk_all)

    def walk_tree(self, cond: "Condition", tree: "TreeIndex", aux: bool) -> None:
        """The walk of a lexical or decimal index for a main condition, or
        (``aux``) for an auxiliary one: never limited, NUMGT/GE and
        NUMLT/LE from their jump key to the end."""
        op = cond.op
        if op in _MAIN_LEXICAL:
            self.main_lexical(cond, tree)
        elif op == tb.COND_NUM_EQ or op == tb.COND_NUM_OREQ:
            self.main_numeq(cond, tree)
        elif op == tb.COND_NUM_BT:
            self.main_numbt(cond, tree)
        elif not aux:
            self.main_numrange(cond, tree)
        else:
            greater = op in (tb.COND_NUM_GT, tb.COND_NUM_GE)
            inclusive = op in (tb.COND_NUM_GE, tb.COND_NUM_LE)
            self.walk_range(tree, tc_atof(cond.expr), greater, inclusive, greater, True, False,
                            (b"\x00" if greater else b"\x7f") + cond.expr)

    def offer_all(self, pks: List[bytes], walk_all: bool) -> None:
        for pk in pks:
            if not self.room(walk_all):
                return
            self.offer(pk)

    def same_order_tokens(self, cond: "Condition", tokens: List[bytes], asc: int,
                          desc: int) -> None:
        """STROREQ / NUMOREQ ordered by their own column: the tokens are
        walked in that order and the result needs no sort."""
        if self.same_order(cond) and self.otype in (asc, desc):
            if self.otype == desc:
                tokens.reverse()
            self.oname = None

    def same_order_result(self, cond: "Condition", asc: int, desc: int) -> None:
        """STRBW / NUMBT ordered by their own column: the walk's order, or
        its reverse, is the result's."""
        if self.same_order(cond):
            if self.otype == asc:
                self.oname = None
            elif self.otype == desc:
                self.res.reverse()
                self.oname = None

    def limited(self, walk_all: bool) -> None:
        if not walk_all and self.max < INT_MAX:
            self.note("limited matching: %d\n" % self.max)

    def same_order(self, cond: "Condition") -> bool:
        return self.oname is not None and self.oname == cond.column

    # -- lexical conditions: STREQ, STRBW, STROREQ ------------------------
    def main_lexical(self, cond: "Condition", index: "TreeIndex") -> None:
        op = cond.op
        label = {tb.COND_STR_EQ: "asc (STREQ)", tb.COND_STR_BW: "asc (STRBW)"}.get(
            op, "skip (STROREQ)")
        self.note('using an index: "%s" %s\n' % (self.name(cond), label))
        if op == tb.COND_STR_EQ:
            tokens = [cond.expr]
            if self.same_order(cond):
                self.oname = None
            walk_all = self.oname is not None
        elif op == tb.COND_STR_BW:
            tokens = [cond.expr]
            walk_all = self.oname is not None and (
                not self.same_order(cond) or self.otype != tb.ORDER_STR_ASC)
        else:
            tokens = sorted(set(_split_tokens(cond.expr)))
            self.same_order_tokens(cond, tokens, tb.ORDER_STR_ASC, tb.ORDER_STR_DESC)
            walk_all = self.oname is not None
        self.limited(walk_all)
        prefix = op == tb.COND_STR_BW
        for token in tokens:
            if op == tb.COND_STR_OREQ and not token:
                continue
            self.walk_equal(index, token, prefix, walk_all)
        if op == tb.COND_STR_BW:
            self.same_order_result(cond, tb.ORDER_STR_ASC, tb.ORDER_STR_DESC)

    def walk_equal(self, index: "TreeIndex", token: bytes, prefix: bool, walk_all: bool) -> None:
        """From tcbdbcurjump(token[NUL]) while the key's value is the token
        (or, ``prefix``, begins with it)."""
        trim = index.trim
        ki = index.jump(token + b"\x00" if trim else token)
        keys = index.keys
        while ki < len(keys) and self.room(walk_all):
            key = keys[ki]
            value = key[:-3] if trim else key
            if not (value.startswith(token) if prefix else value == token):
                return
            self.offer_all(index.dups[key], walk_all)
            ki += 1

    # -- decimal conditions ------------------------------------------------
    def main_numeq(self, cond: "Condition", index: "TreeIndex") -> None:
        """NUMEQ and NUMOREQ: from tcbdbcurjump(NUL expr) while the key
        reads as the number."""
        if cond.op == tb.COND_NUM_EQ:
            self.note('using an index: "%s" asc (NUMEQ)\n' % self.name(cond))
            tokens = [cond.expr]
            if self.same_order(cond):
                self.oname = None
        else:
            self.note('using an index: "%s" skip (NUMOREQ)\n' % self.name(cond))
            tokens = self.numeric_tokens(cond.expr)
            self.same_order_tokens(cond, tokens, tb.ORDER_NUM_ASC, tb.ORDER_NUM_DESC)
        walk_all = self.oname is not None
        self.limited(walk_all)
        keys = index.keys
        for token in tokens:
            if cond.op == tb.COND_NUM_OREQ and not token:
                continue
            num = tc_atof(token)
            ki = index.jump(b"\x00" + token)
            while ki < len(keys) and self.room(walk_all):
                key = keys[ki]
                if _key_num(key) != num:
                    break
                self.offer_all(index.dups[key], walk_all)
                ki += 1

    @staticmethod
    def numeric_tokens(expr: bytes) -> List[bytes]:
        """NUMOREQ's tokens sorted with tccmpdecimal, one per number."""
        from kt.server.tyrant.table import decimal_key

        tokens = sorted(_split_tokens(expr), key=decimal_key)
        out: List[bytes] = []
        for token in tokens:
            if out and tc_atof(token) == tc_atof(out[-1]):
                continue
            out.append(token)
        return out

    def main_numbt(self, cond: "Condition", index: "TreeIndex") -> None:
        self.note('using an index: "%s" asc (NUMBT)\n' % self.name(cond))
        low, high = _between(cond.expr)
        upper = tc_atof(high)
        walk_all = self.oname is not None and (
            not self.same_order(cond) or self.otype != tb.ORDER_NUM_ASC)
        self.limited(walk_all)
        keys = index.keys
        ki = index.jump(b"\x00" + low)
        while ki < len(keys) and self.room(walk_all):
            key = keys[ki]
            if _key_num(key) > upper:
                break
            self.offer_all(index.dups[key], walk_all)
            ki += 1
        self.same_order_result(cond, tb.ORDER_NUM_ASC, tb.ORDER_NUM_DESC)

    def main_numrange(self, cond: "Condition", index: "TreeIndex") -> None:
        """NUMGT/NUMGE and NUMLT/NUMLE: from one end of the index when the
        order is the other way on the same column, else from
        tcbdbcurjump(NUL expr) up (GT/GE) or tcbdbcurjumpback(DEL expr)
        down (LT/LE)."""
        op = cond.op
        greater = op in (tb.COND_NUM_GT, tb.COND_NUM_GE)
        inclusive = op in (tb.COND_NUM_GE, tb.COND_NUM_LE)
        num = tc_atof(cond.expr)
        label = "NUMGT/NUMGE" if greater else "NUMLT/NUMLE"
        against = tb.ORDER_NUM_DESC if greater else tb.ORDER_NUM_ASC
        if self.same_order(cond) and self.otype == against:
            # from the far end, stopping at the first key past the bound
            self.note('using an index: "%s" %s (%s)\n'
                      % (self.name(cond), "desc" if greater else "asc", label))
            if self.max < INT_MAX:
                self.note("limited matching: %d\n" % self.max)
            self.walk_range(index, num, greater, inclusive, not greater, False, True)
            self.oname = None
            return
        self.note('using an index: "%s" %s (%s)\n'
                  % (self.name(cond), "asc" if greater else "desc", label))
        ours = tb.ORDER_NUM_ASC if greater else tb.ORDER_NUM_DESC
        walk_all = self.oname is not None and (not self.same_order(cond) or self.otype != ours)
        self.limited(walk_all)
        self.walk_range(index, num, greater, inclusive, greater, walk_all, False,
                        (b"\x00" if greater else b"\x7f") + cond.expr)
        if not walk_all:
            self.oname = None

    def walk_range(self, index: "TreeIndex", num: float, greater: bool, inclusive: bool,
                   forward: bool, walk_all: bool, stop: bool,
                   start: Optional[bytes] = None) -> None:
        keys = index.keys
        if start is None:
            ki = 0 if forward else len(keys) - 1
        else:
            ki = index.jump(start) if forward else index.jumpback(start)
        while 0 <= ki < len(keys) and self.room(walk_all):
            key = keys[ki]
            knum = _key_num(key)
            if greater:
                passed, hit = knum < num, knum > num or (inclusive and knum >= num)
            else:
                passed, hit = knum > num, knum < num or (inclusive and knum <= num)
            if stop and passed:
                break
            if hit:
                self.offer_all(index.dups[key] if forward else index.dups[key][::-1], walk_all)
            ki += 1 if forward else -1

    # -- the auxiliary index (ncond) ---------------------------------------
    def fetch(self, cond: "Condition", index: "Index") -> Set[bytes]:
        """tctdbqryidxfetch(): every primary key the index gives for a
        second condition (an auxiliary walk is never limited)."""
        saved = (self.res, self.nmap, self.max, self.acnum, self.single, self.oname)
        self.res, self.nmap, self.max, self.acnum, self.single = [], None, INT_MAX, 0, None
        self.oname = b"\x00"  # walk everything, no order side effects
        hint_at = len(self.hint)
        tree = _tree(index)
        if tree is not None:
            self.walk_tree(cond, tree, True)
            found = set(self.res)
        else:
            found = set(index.candidates(cond) or set())
            found = {pk for pk in found if cond.matches(pk, self.db.records.get(pk) or {})}
        del self.hint[hint_at:]
        self.note('using an auxiliary index: "%s"\n' % self.name(cond))
        self.note("auxiliary result set size: %d\n" % len(found))
        self.res, self.nmap, self.max, self.acnum, self.single, self.oname = saved
        return found

    # -- an index that filters entry by entry (scond) ----------------------
    def filter_index(self, i: int) -> None:
        cond = self.conds[i]
        index = self.index_of(cond)
        tree = _tree(index) if index is not None else None
        assert tree is not None
        self.kill(i)
        self.pick_single()
        asc = True
        walk_all = True
        if self.oname is None:
            walk_all = False
        elif self.oname == cond.column:
            if tree.decimal:
                pairs = {tb.ORDER_NUM_ASC: True, tb.ORDER_NUM_DESC: False}
            else:
                pairs = {tb.ORDER_STR_ASC: True, tb.ORDER_STR_DESC: False}
            if self.otype in pairs:
                asc = pairs[self.otype]
                walk_all = False
        self.note('using an index: "%s" %s (all)\n' % (self.name(cond), "asc" if asc else "desc"))
        self.limited(walk_all)
        keys = tree.keys
        order = range(len(keys)) if asc else range(len(keys) - 1, -1, -1)
        for ki in order:
            if not self.room(walk_all):
                break
            key = keys[ki]
            value = key[:-3] if tree.trim else key
            if not cond.hit(value):
                continue
            for pk in (tree.dups[key] if asc else tree.dups[key][::-1]):
                if not self.room(walk_all):
                    break
                if self.acnum < 1 or self.check(pk):
                    self.res.append(pk)
        if not walk_all:
            self.oname = None

    # -- an index of the order column --------------------------------------
    def order_index(self) -> bool:
        oname = self.oname
        assert oname is not None
        index = self.db.indexes.get(oname)
        tree = _tree(index) if index is not None else None
        if tree is None:
            return False
        if tree.decimal:
            pairs = {tb.ORDER_NUM_ASC: True, tb.ORDER_NUM_DESC: False}
        else:
            pairs = {tb.ORDER_STR_ASC: True, tb.ORDER_STR_DESC: False}
        if self.otype not in pairs:
            return False
        asc = pairs[self.otype]
        self.pick_single()
        self.note('using an index: "%s" %s (order)\n'
                  % (oname.decode("utf-8", "replace"), "asc" if asc else "desc"))
        self.note("limited matching: %d\n" % self.max)
        keys = tree.keys
        order = range(len(keys)) if asc else range(len(keys) - 1, -1, -1)
        for ki in order:
            if len(self.res) >= self.max:
                break
            key = keys[ki]
            for pk in (tree.dups[key] if asc else tree.dups[key][::-1]):
                if len(self.res) >= self.max:
                    break
                if self.acnum < 1 or self.check(pk):
                    self.res.append(pk)
        if len(self.res) >= self.max or tree.count >= len(self.db.records):
            self.oname = None
            return True
        self.note("abort the result: %d\n" % len(self.res))
        self.res = []
        return False

    # -- no index ------------------------------------------------------------
    def scan(self) -> None:
        self.note("scanning the whole table\n")
        walk_all = self.oname is not None
        self.limited(walk_all)
        conds = self.conds
        res = self.res
        limit = INT_MAX if walk_all else self.max
        if limit < 1:
            return
        for pk, cols in self.db.records.items():
            ok = True
            for cond in conds:
                if not cond.matches(pk, cols):
                    ok = False
                    break
            if ok:
                res.append(pk)
                if len(res) >= limit:
                    break

    # -- order, skip and limit ---------------------------------------------
    def sort(self) -> None:
        if self.oname is not None:
            self.note('sorting the result set: "%s"\n' % self.oname.decode("utf-8", "replace"))
            self.res = self.db.sort_keys(self.res, self.oname, self.otype)
        elif self.ordered:
            self.note("leaving the index order\n")
        else:
            self.note("leaving the natural order\n")

    def cut(self) -> List[bytes]:
        res = self.res
        limit = self.max
        if self.skip > 0:
            res = res[self.skip:]
            limit -= self.skip
        if len(res) > limit:
            res = res[:limit] if limit > 0 else []
        return res
