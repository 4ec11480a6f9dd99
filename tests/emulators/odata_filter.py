# odata_filter: the Dataverse $filter subset (reference A3.1/A16) compiled to a Python predicate:
# eq ne gt ge lt le, and or not, parentheses, contains/startswith/endswith, column-to-column
# comparison, case-insensitive strings, '' escapes, null/true/false/numbers/GUIDs/dates, and
# Microsoft.Dynamics.CRM.In/NotIn/Between/NotBetween/LastXDays/LastXHours/OnOrAfter/OnOrBefore.
import datetime
import re


class FilterError(Exception):
    pass


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-]))
  | (?P<date>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?(?![\w-]))
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?(?![\w]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<punct>[(),\[\]=])
""", re.X)

CMP = {"eq", "ne", "gt", "ge", "lt", "le"}


def tokenize(text):
    toks, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == "'":
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise FilterError("There is an unterminated literal at position %d in '%s'." % (n, text))
                if text[j] == "'":
                    if j + 1 < n and text[j + 1] == "'":
                        buf.append("'")
                        j += 2
                        continue
                    break
                buf.append(text[j])
                j += 1
            toks.append(("str", "".join(buf), i))
            i = j + 1
            continue
        m = _TOKEN.match(text, i)
        if not m:
            raise FilterError("Syntax error: character '%s' is not valid at position %d in '%s'." % (c, i, text))
        kind = m.lastgroup
        if kind != "ws":
            toks.append((kind, m.group(kind), i))
        i = m.end()
    toks.append(("end", None, n))
    return toks


def norm_datetime(s):
    """Literal date/datetime -> the stored form YYYY-MM-DDTHH:MM:SSZ (UTC)."""
    if "T" not in s:
        return s + "T00:00:00Z"
    try:
        d = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise FilterError("Unrecognized 'Edm.DateTimeOffset' literal '%s'." % s)
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cmpval(v):
    return v.lower() if isinstance(v, str) else v


def _compare(op, a, b):
    if op == "eq":
        return _cmpval(a) == _cmpval(b)
    if op == "ne":
        return _cmpval(a) != _cmpval(b)
    if a is None or b is None:
        return False
    a, b = _cmpval(a), _cmpval(b)
    try:
        if op == "gt":
            return a > b
        if op == "ge":
            return a >= b
        if op == "lt":
            return a < b
        return a <= b
    except TypeError:
        return False


class Parser:
    """resolve(name) -> (row key, edm type) or raises FilterError for unknown properties."""

    def __init__(self, text, resolve, now=None):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.resolve = resolve
        self.now = now or datetime.datetime.now(datetime.timezone.utc)

    def peek(self):
        return self.toks[self.i]

    def take(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def error(self, tok=None):
        tok = tok or self.peek()
        return FilterError("Syntax error at position %d in '%s'." % (tok[2] if tok[0] != "end" else len(self.text), self.text))

    def expect(self, value):
        t = self.take()
        if t[1] != value:
            raise self.error(t)
        return t

    def parse(self):
        fn = self.parse_or()
        if self.peek()[0] != "end":
            raise self.error()
        return fn

    def parse_or(self):
        left = self.parse_and()
        while self.peek()[0] == "ident" and self.peek()[1] == "or":
            self.take()
            right = self.parse_and()
            left = (lambda l, r: lambda row: l(row) or r(row))(left, right)
        return left

    def parse_and(self):
        left = self.parse_unary()
        while self.peek()[0] == "ident" and self.peek()[1] == "and":
            self.take()
            right = self.parse_unary()
            left = (lambda l, r: lambda row: l(row) and r(row))(left, right)
        return left

    def parse_unary(self):
        t = self.peek()
        if t[0] == "ident" and t[1] == "not":
            self.take()
            inner = self.parse_unary()
            return lambda row: not inner(row)
        if t[1] == "(":
            self.take()
            inner = self.parse_or()
            self.expect(")")
            return inner
        if t[0] == "ident" and self.toks[self.i + 1][1] == "(":
            return self.parse_function()
        left = self.parse_operand()
        op = self.take()
        if op[0] != "ident" or op[1] not in CMP:
            raise self.error(op)
        right = self.parse_operand()
        lf, rf, o = left, right, op[1]
        return lambda row: _compare(o, lf(row), rf(row))

    def parse_operand(self):
        t = self.take()
        kind, val = t[0], t[1]
        if kind == "str":
            return lambda row: val
        if kind == "guid":
            v = val.lower()
            return lambda row: v
        if kind == "date":
            v = norm_datetime(val)
            return lambda row: v
        if kind == "num":
            v = val.rstrip("mMdDfFlL")
            v = float(v) if ("." in v or "e" in v or "E" in v) else int(v)
            return lambda row: v
        if kind == "ident":
            if val == "null":
                return lambda row: None
            if val in ("true", "false"):
                v = val == "true"
                return lambda row: v
            key, _typ = self.resolve(val)
            return lambda row: row.get(key)
        raise self.error(t)

    def literal(self):
        t = self.take()
        if t[0] == "str":
            return t[1]
        if t[0] in ("num", "guid", "date"):
            return t[1]
        if t[0] == "ident" and t[1] in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[t[1]]
        raise self.error(t)

    def parse_function(self):
        name_tok = self.take()
        name = name_tok[1]
        self.expect("(")
        if name in ("contains", "startswith", "endswith"):
            prop = self.parse_operand()
            self.expect(",")
            arg = self.parse_operand()
            self.expect(")")

            def f(row, prop=prop, arg=arg, name=name):
                a, b = prop(row), arg(row)
                if not isinstance(a, str) or not isinstance(b, str):
                    return False
                a, b = a.lower(), b.lower()
                return b in a if name == "contains" else a.startswith(b) if name == "startswith" else a.endswith(b)
            return f
        if not name.startswith("Microsoft.Dynamics.CRM."):
            raise FilterError("An unknown function with name '%s' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed." % name)
        fname = name[len("Microsoft.Dynamics.CRM."):]
        args = {}
        while True:
            k = self.take()
            if k[0] != "ident":
                raise self.error(k)
            self.expect("=")
            if self.peek()[1] == "[":
                self.take()
                vals = []
                while self.peek()[1] != "]":
                    vals.append(self.literal())
                    if self.peek()[1] == ",":
                        self.take()
                self.take()
                args[k[1]] = vals
            else:
                args[k[1]] = self.literal()
            if self.peek()[1] == ",":
                self.take()
                continue
            self.expect(")")
            break
        if "PropertyName" not in args:
            raise FilterError("The parameter 'PropertyName' of function '%s' is required." % name)
        key, typ = self.resolve(args["PropertyName"])
        conv = self.converter(typ)
        get = lambda row: row.get(key)
        if fname in ("In", "NotIn"):
            vals = {_cmpval(conv(v)) for v in args.get("PropertyValues", [])}
            neg = fname == "NotIn"
            return lambda row: (_cmpval(get(row)) in vals) != neg
        if fname in ("Between", "NotBetween"):
            vs = args.get("PropertyValues", [])
            if len(vs) != 2:
                raise FilterError("Between requires exactly two values.")
            lo, hi = conv(vs[0]), conv(vs[1])
            neg = fname == "NotBetween"
            return lambda row: (get(row) is not None and _compare("ge", get(row), lo) and _compare("le", get(row), hi)) != neg
        if fname in ("LastXDays", "LastXHours"):
            n = int(args.get("PropertyValue", 0))
            delta = datetime.timedelta(days=n) if fname == "LastXDays" else datetime.timedelta(hours=n)
            start = self.now - delta
            if fname == "LastXDays":
                start = start.replace(hour=0, minute=0, second=0, microsecond=0)
            lo = start.strftime("%Y-%m-%dT%H:%M:%SZ")
            hi = self.now.strftime("%Y-%m-%dT%H:%M:%SZ")
            return lambda row: get(row) is not None and lo <= get(row) <= hi
        if fname in ("OnOrAfter", "OnOrBefore"):
            v = norm_datetime(str(args.get("PropertyValue"))[:10])
            if fname == "OnOrAfter":
                return lambda row: get(row) is not None and get(row) >= v
            v = v[:10] + "T23:59:59Z"
            return lambda row: get(row) is not None and get(row) <= v
        raise FilterError("An unknown function with name '%s' was found." % name)

    @staticmethod
    def converter(typ):
        if typ in ("Integer", "Picklist", "State", "Status", "BigInt"):
            return lambda v: int(v) if v is not None else None
        if typ in ("Decimal", "Double", "Money"):
            return lambda v: float(v) if v is not None else None
        if typ == "DateTime":
            return lambda v: norm_datetime(str(v)) if v is not None else None
        if typ in ("Uniqueidentifier", "Lookup", "Customer", "Owner"):
            return lambda v: str(v).lower() if v is not None else None
        return lambda v: v


def compile_filter(text, resolve, now=None):
    return Parser(text, resolve, now).parse()
