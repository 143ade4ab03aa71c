"""A Python host for policy modules built with ``rbac build POLICY --target wasm``.

It checks a JSON request the way the native library does (design section 5.4), encodes it
(ABI version 1, ``docs/wasm-abi.md``), runs the module with the ``wasmtime`` package (a fuel
limit per decision, a memory limit, no imports) and turns the module's records and its
``rbac.meta`` section back into the decision JSON of design section 5.3. Decisions, reasons
and error codes are those of the native evaluator; error messages are shorter.

    from rbac_host import Policy
    policy = Policy.from_file("policy.wasm")
    policy.decide({"principal": {"id": "user:ann"}, "action": "read",
                   "resource": "workspace:prod"})
    # -> {"decision": "allow" | "deny", "errors": [{"code", "message"}], "reasons": [...]}

A module that traps (out of fuel, out of memory, any runtime error) decides deny.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from typing import Any

import wasmtime

ABI_VERSION = 1
#: ``RBQ1``, the first four bytes of every encoded request.
MAGIC = 0x31514252
#: Arrays nested deeper than this are sent as "anything else" (tag 5).
MAX_ARRAY_DEPTH = 128
#: serde_json, which parses requests natively, refuses 128 nested arrays or objects.
MAX_JSON_DEPTH = 128
I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
#: Fuel for one decision, as the Rust host: above what the costliest valid request needs (two
#: sets that fill the input, compared with ``==``, take about 0.7 billion units).
FUEL = 4_000_000_000
#: The most linear memory a module may have.
MEMORY_LIMIT = 64 << 20
#: The error codes a module reports (``rbac_decide`` returns ``-code``).
MODULE_ERRORS = {705, 706, 711, 712, 713, 714, 721, 722, 723, 731, 741}


class RequestError(Exception):
    """An invalid request: a stable code (``E0702``) and a one-line message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class ModuleError(ValueError):
    """A module that was not loaded, with the code the Rust host gives (``rbac explain E0904``):
    ``E0902`` not a policy module ``rbac`` emitted, ``E0903`` another ABI version, ``E0904``
    bytes that do not match the module's ``rbac.sha256`` digest."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class JsonFloat:
    """A JSON number that is not a 64-bit integer (``1.5``, ``1e3``, ``-0``, ``2**64``).

    :func:`parse_json` gives these so that they are sent as "anything else" (tag 5), exactly
    as the native parser sends them. Plain ``float`` values are treated the same.
    """

    __slots__ = ("value",)

    def __init__(self, value: float):
        self.value = value

    def __repr__(self) -> str:
        return f"JsonFloat({self.value!r})"


# ---- JSON ------------------------------------------------------------------------------


def _parse_int(lexeme: str) -> Any:
    value = int(lexeme)
    # Like serde_json: `-0` and integers beyond i64 are floats.
    if lexeme == "-0" or not I64_MIN <= value <= I64_MAX:
        return _parse_float(lexeme)
    return value


def _parse_float(lexeme: str) -> JsonFloat:
    value = float(lexeme)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {lexeme[:40]}")
    return JsonFloat(value)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"`{name}` is not JSON")


def _check_parsed(value: Any) -> None:
    """Refuses what serde_json refuses but Python's json accepts: deep nesting (lone
    surrogates: :func:`_check_text`)."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (list, dict)):
            if depth >= MAX_JSON_DEPTH:
                raise ValueError("recursion limit exceeded")
            stack.extend((x, depth + 1) for x in (v if isinstance(v, list) else v.values()))


def _check_text(value: Any) -> None:
    """Refuses a value that no JSON text gives (:class:`RequestError` E0701, the code the
    native parser gives the text ``"\\ud800"``): a string or key with a lone surrogate, which
    ``json.loads`` accepts from that text but UTF-8 cannot encode, and a key that is not a
    string. Looks at every string and key of the request, even those the module never reads,
    as the native parser reads the whole text before anything else."""
    seen: set[int] = set()
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            _well_formed(v, "string")
        elif isinstance(v, (list, dict)) and id(v) not in seen:
            seen.add(id(v))  # a value met twice (or a cycle) is looked at once
            if isinstance(v, list):
                stack.extend(v)
                continue
            for k, x in v.items():
                if not isinstance(k, str):
                    shown = repr(k) if len(repr(k)) <= 40 else repr(k)[:40] + "..."
                    raise RequestError("E0701", f"malformed JSON request: the key {shown} is not a string")
                _well_formed(k, "key")
                stack.append(x)


def _well_formed(s: str, what: str) -> None:
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            shown = json.dumps(s if len(s) <= 40 else s[:40] + "...")
            raise RequestError(
                "E0701", f"malformed JSON request: the {what} {shown} has a lone surrogate, which JSON text cannot hold"
            ) from None


def _once_each(pairs: list) -> dict:
    """An object's pairs as a dict; a key given twice is an error (JSON readers keep the
    last value, while a gateway or a person may have read the first)."""
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"the key `{k}` is given twice in one object")
        out[k] = v
    return out


def parse_json(text: str | bytes) -> Any:
    """Parses JSON text as the native library does (serde_json).

    Integers within 64 bits become ``int``, other numbers :class:`JsonFloat`; numbers out of
    the f64 range, ``NaN``/``Infinity``, lone surrogate escapes and more than 127 nested arrays
    or objects are errors, and so is an object giving a key twice. ``text`` is a ``str``, or
    ``bytes`` read as UTF-8, strictly (``json.loads`` would also read UTF-16 and UTF-32 and
    drop a byte order mark, which natively are malformed). Raises :class:`RequestError` E0701,
    for anything but text or bytes too.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError("E0701", "malformed JSON request: the bytes are not UTF-8") from None
    elif not isinstance(text, str):
        raise RequestError("E0701", f"malformed JSON request: expected JSON text, got {type(text).__name__}")
    try:
        value = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_reject_constant,
            object_pairs_hook=_once_each,
        )
        _check_parsed(value)
    except (ValueError, RecursionError) as e:
        raise RequestError("E0701", f"malformed JSON request: {e}") from None
    _check_text(value)
    return value


# ---- request checks (design 5.4; src/request.rs `Request::from_value`) -----------------


def _object(v: Any, what: str) -> dict:
    if not isinstance(v, dict):
        raise RequestError("E0702", f"`{what}` must be a JSON object")
    return v


def _optional_object(obj: dict, key: str, what: str) -> dict:
    v = obj.get(key)
    return {} if v is None else _object(v, what)


def _string(v: Any, what: str) -> str:
    if not isinstance(v, str):
        raise RequestError("E0702", f"`{what}` must be a string")
    return v


def _required(obj: dict, what: str, key: str) -> Any:
    if key not in obj:
        raise RequestError("E0703", f"`{what}` lacks the key `{key}`")
    return obj[key]


def _known_keys(obj: dict, what: str, keys: tuple[str, ...]) -> None:
    for k in sorted(obj):
        if k not in keys:
            raise RequestError("E0704", f"unknown key `{k}` in `{what}`")


def check_request(value: Any) -> dict:
    """Checks a request (as :func:`parse_json` or ``json.loads`` gives it).

    Returns it in one shape: ``{"principal": {"kind": "direct", "id", "groups", "attrs"} |
    {"kind": "identity", "identity", "claims", "attrs"} | {"kind": "token", "token",
    "attrs"}, "action", "path", "resource_attrs", "context"}``. Raises :class:`RequestError`
    (E0701 a string or key with a lone surrogate, or a key that is not a string: no JSON text
    gives them; E0702 wrong JSON type, E0703 missing key, E0704 unknown key), checking in the
    native order so the same request gets the same code.
    """
    _check_text(value)
    return _check_shape(value)


def _check_shape(value: Any) -> dict:
    """:func:`check_request` for a value whose strings and keys are known to be JSON's."""
    obj = _object(value, "request")
    _known_keys(obj, "request", ("principal", "action", "resource", "context"))
    p = _object(_required(obj, "request", "principal"), "principal")
    if "token" in p:
        _known_keys(p, "principal", ("token", "attrs"))
        principal = {
            "kind": "token",
            "token": _string(_required(p, "principal", "token"), "principal.token"),
            "attrs": _optional_object(p, "attrs", "principal.attrs"),
        }
    elif "identity" in p:
        _known_keys(p, "principal", ("identity", "claims", "attrs"))
        principal = {
            "kind": "identity",
            "identity": _string(_required(p, "principal", "identity"), "principal.identity"),
            "claims": _object(_required(p, "principal", "claims"), "principal.claims"),
            "attrs": _optional_object(p, "attrs", "principal.attrs"),
        }
    else:
        _known_keys(p, "principal", ("id", "groups", "attrs"))
        groups = p.get("groups")
        if groups is None:
            groups = []
        elif isinstance(groups, list):
            groups = [_string(g, "principal.groups[]") for g in groups]
        else:
            raise RequestError("E0702", "`principal.groups` must be a list of strings")
        principal = {
            "kind": "direct",
            "id": _string(_required(p, "principal", "id"), "principal.id"),
            "groups": groups,
            "attrs": _optional_object(p, "attrs", "principal.attrs"),
        }
    action = _string(_required(obj, "request", "action"), "action")
    r = _required(obj, "request", "resource")
    if isinstance(r, str):
        path, resource_attrs = r, {}
    else:
        if not isinstance(r, dict):
            raise RequestError("E0702", "`resource` must be a path string or a JSON object")
        _known_keys(r, "resource", ("path", "attrs"))
        path = _string(_required(r, "resource", "path"), "resource.path")
        resource_attrs = _optional_object(r, "attrs", "resource.attrs")
    context = _optional_object(obj, "context", "context")
    return {"principal": principal, "action": action, "path": path, "resource_attrs": resource_attrs, "context": context}


# ---- encoding (docs/wasm-abi.md "Request encoding") -------------------------------------


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray()

    def u8(self, b: int) -> None:
        self.out.append(b)

    def u32(self, n: int) -> None:
        self.out += struct.pack("<I", n)

    def str(self, s: str) -> None:
        b = s.encode("utf-8")
        self.u32(len(b))
        self.out += b

    def value(self, v: Any, depth: int) -> None:
        """Tags: 0 null, 1 string, 2 i64, 3 bool, 4 array, 5 anything else."""
        if v is None:
            self.u8(0)
        elif isinstance(v, str):
            self.u8(1)
            self.str(v)
        elif isinstance(v, bool):  # before int: bool is an int in Python
            self.u8(3)
            self.u8(1 if v else 0)
        elif isinstance(v, int) and I64_MIN <= v <= I64_MAX:
            self.u8(2)
            self.out += struct.pack("<q", v)
        elif isinstance(v, list) and depth < MAX_ARRAY_DEPTH:
            self.u8(4)
            self.u32(len(v))
            for x in v:
                self.value(x, depth + 1)
        else:
            self.u8(5)


_MISSING = object()


def _claim(claims: dict, name: str, missing: Any = None) -> Any:
    """A claim by name: the exact key, else a dotted path through nested objects; ``missing``
    when there is none (a claim that is JSON ``null`` is ``None``)."""
    if name in claims:
        return claims[name]
    cur: Any = claims
    for part in name.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return missing
        cur = cur[part]
    return cur


def _flatten_claims(claims: dict) -> list[tuple[str, Any]]:
    """Every top-level claim first, then the dotted names of nested claims
    (``realm_access.roles``), descending only through keys without a dot, so an exact key wins
    over a nested path. What is sent when the module's meta is not known."""
    out = [(k, claims[k]) for k in sorted(claims)]

    def nested(prefix: str, obj: dict) -> None:
        for k in sorted(obj):
            if "." in k:
                continue
            name = f"{prefix}.{k}"
            out.append((name, obj[k]))
            if isinstance(obj[k], dict):
                nested(name, obj[k])

    for k in sorted(claims):
        if "." not in k and isinstance(claims[k], dict):
            nested(k, claims[k])
    return out


def _read_claims(meta: dict, identity: str, claims: dict) -> list[tuple[str, Any]]:
    """The claims a module reads for ``identity`` (its user claim and groups claim, from
    ``rbac.meta``), each with the value :func:`_claim` finds (a claim that is JSON ``null`` is
    sent, a missing one is not); none for an identity the module does not declare (it refuses
    the request, E0712, whatever the claims)."""
    ident = next((i for i in meta["identities"] if i["name"] == identity), None)
    if ident is None:
        return []
    names = [ident["user_claim"]] + ([] if ident.get("groups_claim") is None else [ident["groups_claim"]])
    found = [(name, _claim(claims, name, _MISSING)) for name in names]
    return [(name, value) for name, value in found if value is not _MISSING]


def encode_request(value: Any, meta: dict | None = None) -> tuple[bytes, list[tuple[str, str, Any]], dict]:
    """Encodes a request for a module.

    Returns the encoding, the attributes in the order they were sent (``(entity, name,
    value)``; error records count in this order) and the checked request. Raises
    :class:`RequestError` for a request the JSON checks refuse, or for a token principal
    (E0763: tokens must be verified into an identity's claims before a module sees them).
    With the module's ``meta`` (``policy.meta``), an identity principal's claims are only those
    the module reads; without, every claim is sent, nested ones under their dotted names.
    """
    return _encode(check_request(value), meta)


def _encode(req: dict, meta: dict | None) -> tuple[bytes, list[tuple[str, str, Any]], dict]:
    """Encodes a request :func:`check_request` returned."""
    p = req["principal"]
    if p["kind"] == "token":
        raise RequestError("E0763", "a token principal must be verified before deciding; this host does not verify tokens")
    w = _Writer()
    w.u32(MAGIC)
    if p["kind"] == "direct":
        w.u8(0)
        w.str(p["id"])
        w.u32(len(p["groups"]))
        for g in p["groups"]:
            w.str(g)
    else:
        w.u8(1)
        w.str(p["identity"])
        claims = _flatten_claims(p["claims"]) if meta is None else _read_claims(meta, p["identity"], p["claims"])
        w.u32(len(claims))
        for k, v in claims:
            w.str(k)
            w.value(v, 0)
    w.str(req["action"])
    w.str(req["path"])
    attrs = [
        (entity, k, m[k])
        for entity, m in (("principal", p["attrs"]), ("resource", req["resource_attrs"]), ("context", req["context"]))
        for k in sorted(m)
    ]
    w.u32(len(attrs))
    for entity, k, v in attrs:
        w.u8({"principal": 0, "resource": 1, "context": 2}[entity])
        w.str(k)
        w.value(v, 0)
    return bytes(w.out), attrs, req


# ---- the module ------------------------------------------------------------------------


def _leb128(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, pos


# Every module ends with a custom section ``rbac.sha256`` holding the SHA-256 of every byte
# before it (docs/wasm-abi.md): section 0, size 44, name length 11, the name, the digest.
_TRAILER = b"\x00\x2c\x0brbac.sha256"


def check_digest(wasm: bytes) -> None:
    """Refuses a module that does not end with the SHA-256 of the rest (a damaged module)."""
    body = len(wasm) - len(_TRAILER) - 32
    if body < 0 or wasm[body : body + len(_TRAILER)] != _TRAILER:
        raise ModuleError(
            "E0902", "the module does not end with an `rbac.sha256` digest; build it with `rbac build --target wasm`"
        )
    if hashlib.sha256(wasm[:body]).digest() != wasm[body + len(_TRAILER) :]:
        raise ModuleError("E0904", "the module is damaged: its bytes do not match its `rbac.sha256` digest")


def read_meta(wasm: bytes) -> dict:
    """Reads the ``rbac.meta`` custom section: the names behind the module's numbers."""
    pos = 8  # magic and version
    try:
        while pos < len(wasm):
            section_id = wasm[pos]
            size, pos = _leb128(wasm, pos + 1)
            end = pos + size
            if section_id == 0:
                name_len, at = _leb128(wasm, pos)
                if wasm[at : at + name_len] == b"rbac.meta":
                    return json.loads(wasm[at + name_len : end])
            pos = end
    except (IndexError, ValueError) as e:
        raise ModuleError("E0902", f"not a policy module: {e}") from None
    raise ModuleError("E0902", "the module has no `rbac.meta` section; build it with `rbac build --target wasm`")


def invalid(errors: list[RequestError]) -> dict:
    """The decision for an invalid request: deny, the errors, no reasons."""
    return {"decision": "deny", "errors": [{"code": e.code, "message": e.message} for e in errors], "reasons": []}


def _cause(e: Exception) -> str:
    """An exception's cause in one line: wasmtime's messages end with it (``wasm trap: all fuel
    consumed by WebAssembly``), after a backtrace."""
    return next((line.strip() for line in reversed(str(e).splitlines()) if line.strip()), type(e).__name__)


def _sort_reasons(items: list[tuple[tuple[int, int, int], dict]]) -> list[dict]:
    """Sorts rule reasons as every engine does (src/eval/mod.rs ``sort_reasons``): by the
    rule's source position, subject, scope (everywhere first), chain and role, stable, then
    drops repeats that follow each other. Python orders strings by code point, as Rust does."""

    def key(item: tuple[tuple[int, int, int], dict]) -> tuple:
        at_key, r = item
        scope = (0, "") if r["scope"] is None else (1, r["scope"])
        return (tuple(at_key), r["subject"], scope, r["via"], r["role"])

    out: list[dict] = []
    for _, reason in sorted(items, key=key):
        if not out or out[-1] != reason:
            out.append(reason)
    return out


class Policy:
    """A loaded policy module. One decision at a time; keep one per thread and reuse it."""

    def __init__(self, wasm: bytes, fuel: int = FUEL, memory_limit: int = MEMORY_LIMIT):
        if isinstance(fuel, bool) or not isinstance(fuel, int) or not 0 < fuel < 2**64:
            raise ValueError(f"fuel must be a positive integer below 2**64 (units per decision), not {fuel!r}")
        if not isinstance(wasm, (bytes, bytearray, memoryview)):
            raise ModuleError("E0902", f"not a policy module: expected its bytes, got {type(wasm).__name__}")
        wasm = bytes(wasm)  # a copy: the caller's buffer could change after the digest is checked
        check_digest(wasm)
        self.meta = read_meta(wasm)
        #: Fuel for each decision (``decide_raw`` gives every call this much afresh).
        self.fuel = fuel
        config = wasmtime.Config()
        config.consume_fuel = True
        engine = wasmtime.Engine(config)
        self._store = wasmtime.Store(engine)
        self._store.set_limits(memory_size=memory_limit, instances=1)
        # Loading (instantiating, reading the ABI version and the buffers' places) has a
        # budget of its own: ``fuel`` is each decision's, and a small one must not make a
        # policy module look like something else (E0902).
        self._store.set_fuel(FUEL)
        try:
            # No imports: a policy module needs nothing from its host.
            instance = wasmtime.Instance(self._store, wasmtime.Module(engine, wasm), [])
            exports = instance.exports(self._store)
            self._memory = exports["memory"]
            self._f = {
                name: exports[name]
                for name in (
                    "rbac_abi_version",
                    "rbac_input_ptr",
                    "rbac_input_cap",
                    "rbac_output_ptr",
                    "rbac_output_len",
                    "rbac_principal_ptr",
                    "rbac_principal_len",
                    "rbac_decide",
                )
            }
            version = self._call("rbac_abi_version")
        except (wasmtime.WasmtimeError, wasmtime.Trap, KeyError, TypeError) as e:
            # Not WebAssembly, an export missing or of another kind, a trap (a module `rbac`
            # emitted needs a few units of fuel to load): as the Rust host says it.
            raise ModuleError("E0902", f"not a policy module: {_cause(e)}") from None
        if version != ABI_VERSION:
            raise ModuleError("E0903", f"the module speaks ABI version {version}; this host speaks {ABI_VERSION}")
        self.input_ptr = self._call("rbac_input_ptr")
        self.input_cap = self._call("rbac_input_cap")
        self.output_ptr = self._call("rbac_output_ptr")

    @classmethod
    def from_file(cls, path: str, **kwargs: Any) -> "Policy":
        """Loads a module from a ``.wasm`` file."""
        with open(path, "rb") as f:
            return cls(f.read(), **kwargs)

    def _call(self, name: str, *args: int) -> int:
        return self._f[name](self._store, *args)

    def decide_raw(self, data: bytes) -> int:
        """Runs ``rbac_decide`` on raw input bytes (an encoded request, or anything: for
        testing that malformed input is denied) with a fresh fuel budget. Returns what it
        returned: 1 allow, 0 deny, -code invalid. Raises ``wasmtime.Trap`` (or
        ``WasmtimeError``) when the module traps."""
        if len(data) > 0x7FFFFFFF:
            return -706
        chunk = data[: self.input_cap]
        if chunk:
            self._memory.write(self._store, chunk, self.input_ptr)
        self._store.set_fuel(self.fuel)
        return self._call("rbac_decide", len(data))

    def decide_json(self, text: str | bytes) -> dict:
        """Decides a request given as JSON text (parsed exactly as the native library does), or
        as its UTF-8 ``bytes``. Anything else is denied with E0701, as malformed text is; never
        raises for a bad request."""
        try:
            value = parse_json(text)
        except RequestError as e:
            return invalid([e])
        # `parse_json` refuses lone surrogates itself: no need to look for them again.
        return self._decide(lambda: _encode(_check_shape(value), self.meta))

    def decide(self, request: Any) -> dict:
        """Decides a request: a value in the JSON form of design section 5.4 (``dict``s,
        ``list``s, ``str``, ``int``, ``bool``, ``None``; floats are never ``int``s). A string or
        key with a lone surrogate (``json.loads`` gives them for ``"\\ud800"``) or a key that
        is not a string is E0701, as the native parser refuses such text. Returns the decision
        JSON object; never raises for a bad request or a failing module."""
        return self._decide(lambda: encode_request(request, self.meta))

    def _decide(self, encode: Any) -> dict:
        """Decides the request ``encode()`` encodes (it raises for an invalid one)."""
        try:
            data, attrs, req = encode()
        except RequestError as e:
            return invalid([e])
        except Exception as e:  # reading the value failed (a dict subclass that raises, ...)
            return invalid([RequestError("E0701", f"malformed JSON request: the request cannot be read as JSON: {e!r}")])
        if len(data) > self.input_cap:
            return invalid(
                [
                    RequestError(
                        "E0706", f"the request is {len(data)} bytes encoded; the module accepts at most {self.input_cap}"
                    )
                ]
            )
        try:
            return self._add_sources(req, self._run(data, attrs, req))
        except Exception as e:  # a trap, out of fuel, a bad record: deny, never allow
            return invalid([RequestError("E0707", f"the policy module failed: {_cause(e)}")])

    def _run(self, data: bytes, attrs: list, req: dict) -> dict:
        result = self.decide_raw(data)
        n = self._call("rbac_output_len")
        raw = self._memory.read(self._store, self.output_ptr, self.output_ptr + n * 24)
        if len(raw) != n * 24:
            raise ValueError("the output records lie outside memory")
        records = list(struct.iter_unpack("<6I", raw))
        if result < 0:
            errors = [self._error(attrs, req, r[1], r[2], r[3]) for r in records if r[0] == 5]
            return invalid(errors or [self._error(attrs, req, -result, 0, 0)])
        exclusive = {self._role(r[2]) for r in records if r[0] == 4}
        if exclusive:
            return {"decision": "deny", "errors": [], "reasons": [{"kind": "exclusive", "roles": sorted(exclusive)}]}
        # Only reasons whose subject is the principal itself need its id (two more calls).
        principal = self._principal() if any(r[0] in (1, 2, 3) and r[3] == 0 for r in records) else ""

        def of_kind(kind: int, name: str) -> list[dict]:
            return _sort_reasons([self._rule_reason(r, principal, name) for r in records if r[0] == kind])

        if result == 1:
            return {"decision": "allow", "errors": [], "reasons": of_kind(1, "allow")}
        if any(r[0] == 2 for r in records):
            return {"decision": "deny", "errors": [], "reasons": of_kind(2, "deny")}
        return {"decision": "deny", "errors": [], "reasons": [{"kind": "no_rule"}, *of_kind(3, "skipped")]}

    def _add_sources(self, req: dict, decision: dict) -> dict:
        """For an identity principal, adds to each reason whose subject is a group the identity,
        groups claim and claim value that gave the group (the first value in the claim's order
        when several do), from the identity's aliases in ``rbac.meta``, as the native library does."""
        p = req["principal"]
        if p["kind"] != "identity" or decision["errors"]:
            return decision
        ident = next((i for i in self.meta["identities"] if i["name"] == p["identity"]), None)
        if ident is None or ident.get("groups_claim") is None:
            return decision
        values = _claim(p["claims"], ident["groups_claim"])
        if not isinstance(values, list):
            return decision
        aliases = {v: gs for v, gs in ident.get("aliases", [])}
        groups = self.meta["groups"]
        sources: dict[str, dict] = {}
        for value in values:
            if not isinstance(value, str):
                continue
            for g in aliases.get(value, []):
                if g < len(groups) and groups[g] not in sources:
                    sources[groups[g]] = {"identity": ident["name"], "claim": ident["groups_claim"], "value": value}
        for r in decision["reasons"]:
            subject = r.get("subject")
            if isinstance(subject, str) and subject.startswith("group:") and subject[6:] in sources:
                r.update(sources[subject[6:]])
        return decision

    def _principal(self) -> str:
        """The principal id the module decided for (``user:`` + the user claim for identities)."""
        ptr = self._call("rbac_principal_ptr")
        length = self._call("rbac_principal_len")
        raw = self._memory.read(self._store, ptr, ptr + length)
        if len(raw) != length:
            raise ValueError("the principal id lies outside memory")
        return raw.decode("utf-8")

    def _role(self, r: int) -> str:
        roles = self.meta["roles"]
        return roles[r] if r < len(roles) else ""

    def _rule_reason(self, r: tuple, principal: str, kind: str) -> tuple[tuple[int, int, int], dict]:
        """A reason from a rule record (kinds 1-3: rule, chain, subject, node, slot + 1)."""
        m = self.meta
        rule = m["rules"][r[1]] if r[1] < len(m["rules"]) else None
        if r[3] == 0:
            subject = principal
        elif r[3] == 1:
            subject = "everyone"
        else:
            g = r[3] - 2
            subject = "group:" + (m["groups"][g] if g < len(m["groups"]) else "?")
        chain = m["chains"][r[2]] if r[2] < len(m["chains"]) else []
        reason = {
            "kind": kind,
            "role": self._role(rule["role"]) if rule else "",
            "via": [self._role(x) for x in chain],
            "subject": subject,
            "scope": m["nodes"][r[4]] if r[4] < len(m["nodes"]) else None,
            "at": rule["at"] if rule else "",
        }
        if 0 < r[5] <= len(m["slots"]):
            reason["unevaluable"] = [m["slots"][r[5] - 1]]
        return (tuple(rule["at_key"]) if rule else (0, 0, 0)), reason

    def _error(self, attrs: list, req: dict, code: int, d1: int, d2: int) -> RequestError:
        """An error record (kind 5: code, detail, detail) as a :class:`RequestError`."""
        if code not in MODULE_ERRORS:
            return RequestError("E0705", f"the module reported error {code}")
        m = self.meta
        p = req["principal"]
        ident = m["identities"][d2] if d2 < len(m["identities"]) else None
        types = m["types"]
        messages = {
            705: lambda: "the encoded request is malformed",
            706: lambda: "the encoded request is larger than the module accepts",
            711: lambda: f"principal id `{p.get('id', '')}` must be `user:` or `service:` followed by a name",
            712: lambda: f"unknown identity `{p.get('identity', '')}`",
            713: lambda: f"the user claim of identity `{ident['name'] if ident else '?'}` is missing, not a string or empty",
            714: lambda: f"claim `{(ident or {}).get('groups_claim') or 'groups'}` must be a list of strings",
            721: lambda: f"malformed resource path `{req['path']}`",
            722: lambda: f"unknown resource type in path `{req['path']}`",
            723: lambda: f"path `{req['path']}` does not follow the resource tree",
            731: lambda: f"action `{req['action']}` is not declared on `{types[d1]['name'] if d1 < len(types) else '?'}`",
            741: lambda: "attribute `{}.{}` has a value of the wrong type".format(
                *(attrs[d2][:2] if d2 < len(attrs) else ("?", "?"))
            ),
        }
        return RequestError(f"E0{code}", messages[code]())
