// rbac.mjs: a dependency-free JavaScript host for policy modules built with
// `rbac build POLICY --target wasm` (ABI version 1, docs/wasm-abi.md).
//
// It checks a JSON request the way the native library does (design section 5.4), encodes it,
// runs the module with the built-in `WebAssembly` and turns the module's records and its
// `rbac.meta` section back into the decision JSON of design section 5.3. Decisions, reasons
// and error codes are those of the native evaluator; error messages are shorter.
//
//   import { loadPolicy } from "./rbac.mjs";
//   const policy = loadPolicy(fs.readFileSync("policy.wasm"));
//   policy.decide({principal: {id: "user:ann"}, action: "read", resource: "workspace:prod"});
//   // -> {decision: "allow" | "deny", errors: [{code, message}], reasons: [...]}
//
// Node 20 or any runtime with `WebAssembly`, `TextEncoder` and `BigInt`. Node's WebAssembly has
// no fuel: a module that trapped (any runtime error) decides deny, but a hard time limit needs
// a worker thread that can be terminated.

export const ABI_VERSION = 1;

/** `RBQ1`, the first four bytes of every encoded request. */
const MAGIC = 0x31514252;
/** Arrays nested deeper than this are sent as "anything else" (tag 5). */
const MAX_ARRAY_DEPTH = 128;
/** serde_json, which parses requests natively, refuses 128 nested arrays or objects. */
const MAX_JSON_DEPTH = 128;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
/** The error codes a module reports (`rbac_decide` returns `-code`). */
/** A JSON number (sticky: matched where the parser stands). */
const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
const MODULE_ERRORS = new Set([705, 706, 711, 712, 713, 714, 721, 722, 723, 731, 741]);

/** An invalid request: a stable code (`E0702`) and a one-line message. */
export class RequestError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "RequestError";
    this.code = code;
  }
}

/**
 * Why a module was not loaded, with the code the Rust host gives (`rbac explain E0904`):
 * `E0902` not a policy module `rbac` emitted, `E0903` another ABI version, `E0904` bytes that
 * do not match the module's `rbac.sha256` digest.
 */
export class ModuleError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "ModuleError";
    this.code = code;
  }
}

/**
 * A JSON number that is not a 64-bit integer (`1.5`, `1e3`, `-0`, `2**64`): what
 * {@link parseJson} gives for them, so that they are sent as "anything else" (tag 5) exactly as
 * the native parser sends them, even where a JS number would look like an integer (`1.0`).
 */
export class JsonFloat {
  constructor(value) {
    this.value = value;
  }
  toJSON() {
    return this.value;
  }
}

// ---- JSON ---------------------------------------------------------------------------------

/**
 * Parses JSON text as the native library does (serde_json): integers become `BigInt`s, other
 * numbers {@link JsonFloat}s, numbers out of the f64 range, lone surrogate escapes and more
 * than 127 nested arrays or objects are errors, and so is an object giving a key twice. Objects
 * have no prototype (so `__proto__` is an ordinary key). `text` is a string, or bytes (a
 * `Uint8Array`, `Buffer` or `ArrayBuffer`) read as UTF-8, strictly: bytes that are not UTF-8,
 * and a byte order mark, are malformed as natively. Throws a `RequestError` E0701, for
 * anything else than text or bytes too.
 */
export function parseJson(input) {
  const text = jsonText(input);
  let i = 0;
  const fail = (what) => {
    throw new RequestError("E0701", `malformed JSON request: ${what} at character ${i}`);
  };
  const ws = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else return;
    }
  };
  const hex4 = () => {
    const h = text.slice(i, i + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) fail("invalid escape");
    i += 4;
    return parseInt(h, 16);
  };
  const string = () => {
    i++; // the opening quote
    let out = "";
    let start = i;
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c < 0x20) fail("control character in string");
      if (c >= 0xd800 && c <= 0xdfff) {
        // A raw surrogate must be half of a well-formed pair: JSON text is Unicode.
        const d = text.charCodeAt(i + 1);
        if (c > 0xdbff || !(d >= 0xdc00 && d <= 0xdfff)) fail("lone surrogate");
        i += 2;
        continue;
      }
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += text.slice(start, i);
      i++;
      const e = text[i++];
      switch (e) {
        case '"': out += '"'; break;
        case "\\": out += "\\"; break;
        case "/": out += "/"; break;
        case "b": out += "\b"; break;
        case "f": out += "\f"; break;
        case "n": out += "\n"; break;
        case "r": out += "\r"; break;
        case "t": out += "\t"; break;
        case "u": {
          const u = hex4();
          if (u >= 0xdc00 && u <= 0xdfff) fail("lone trailing surrogate in escape");
          if (u >= 0xd800 && u <= 0xdbff) {
            if (text[i] !== "\\" || text[i + 1] !== "u") fail("lone leading surrogate in escape");
            i += 2;
            const v = hex4();
            if (!(v >= 0xdc00 && v <= 0xdfff)) fail("lone leading surrogate in escape");
            out += String.fromCharCode(u, v);
          } else {
            out += String.fromCharCode(u);
          }
          break;
        }
        default: fail("invalid escape");
      }
      start = i;
    }
  };
  const number = () => {
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) fail("invalid number");
    const lexeme = m[0];
    i += lexeme.length;
    const n = Number(lexeme);
    if (!Number.isFinite(n)) fail("number out of range");
    if (m[1] === undefined && m[2] === undefined) {
      const b = BigInt(lexeme);
      // Like serde_json: `-0` and integers beyond i64 are floats.
      if (!(lexeme === "-0" || b < I64_MIN || b > I64_MAX)) return b;
    }
    return new JsonFloat(n);
  };
  const value = (depth) => {
    ws();
    const c = text[i];
    if (c === "{" || c === "[") {
      if (depth + 1 >= MAX_JSON_DEPTH) fail("recursion limit exceeded");
      i++;
      ws();
      if (c === "[") {
        const arr = [];
        if (text[i] === "]") {
          i++;
          return arr;
        }
        for (;;) {
          arr.push(value(depth + 1));
          ws();
          if (text[i] === ",") i++;
          else if (text[i] === "]") {
            i++;
            return arr;
          } else fail("expected `,` or `]`");
        }
      }
      const obj = Object.create(null);
      if (text[i] === "}") {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected a key");
        const k = string();
        if (Object.prototype.hasOwnProperty.call(obj, k)) fail(`the key \`${k}\` is given twice in one object`);
        ws();
        if (text[i] !== ":") fail("expected `:`");
        i++;
        obj[k] = value(depth + 1);
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") {
          i++;
          return obj;
        } else fail("expected `,` or `}`");
      }
    }
    if (c === '"') return string();
    if (c === "-" || (c >= "0" && c <= "9")) return number();
    for (const [word, v] of [["true", true], ["false", false], ["null", null]]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    return fail(i >= text.length ? "unexpected end of input" : "expected a value");
  };
  const v = value(0);
  ws();
  if (i < text.length) fail("trailing characters");
  return v;
}

// `ignoreBOM` keeps a leading U+FEFF as a character, as Rust's `String::from_utf8` does.
const UTF8_DECODER = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** What {@link parseJson} reads: a string as it is, bytes as strict UTF-8; else E0701. */
function jsonText(input) {
  if (typeof input === "string") return input;
  const bytes = byteView(input);
  if (bytes === null) {
    const what = input === null ? "null" : Array.isArray(input) ? "an array" : typeof input;
    throw new RequestError("E0701", `malformed JSON request: expected JSON text (a string or bytes), got ${what}`);
  }
  try {
    return UTF8_DECODER.decode(bytes);
  } catch {
    throw new RequestError("E0701", "malformed JSON request: the bytes are not UTF-8");
  }
}

/** The bytes of an `ArrayBuffer` or of any view of one (`Uint8Array`, `Buffer`, ...), else null. */
function byteView(v) {
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  const tag = Object.prototype.toString.call(v);
  if (tag === "[object ArrayBuffer]" || tag === "[object SharedArrayBuffer]") return new Uint8Array(v);
  return null;
}

/** Whether a string has no lone surrogate (a half of a pair without its other half). */
const wellFormed =
  typeof String.prototype.isWellFormed === "function"
    ? (s) => s.isWellFormed()
    : (s) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

/**
 * Refuses a value that no JSON text gives (E0701, the code the native parser gives the text
 * `"\ud800"`): a string or a key with a lone surrogate. JSON text is Unicode, and UTF-8 has no
 * encoding for a lone surrogate: `TextEncoder` would send U+FFFD, so `"user:ann\uD800"` would be
 * decided as `user:ann\u{FFFD}` (allowed where that id is), and `"a\uD800"` would equal
 * `"a\uDFFF"` in conditions. Looks at every string and key of the request, even those the
 * module never reads, as the native parser reads the whole text before anything else.
 */
function checkText(value) {
  const seen = new Set();
  const stack = [value];
  const refuse = (what, s) => {
    const shown = JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s);
    throw new RequestError("E0701", `malformed JSON request: ${what} ${shown} has a lone surrogate, which JSON text cannot hold`);
  };
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === "string") {
      if (!wellFormed(v)) refuse("the string", v);
    } else if (v !== null && typeof v === "object" && !(v instanceof JsonFloat) && !seen.has(v)) {
      // Each object once: a value met twice (or a cycle) is looked at once.
      seen.add(v);
      // Indices, not `for...of`: the same for a sparse array (its holes are `undefined`).
      if (Array.isArray(v)) for (let k = 0; k < v.length; k++) stack.push(v[k]);
      else {
        for (const k of Object.keys(v)) {
          if (!wellFormed(k)) refuse("the key", k);
          stack.push(v[k]);
        }
      }
    }
  }
}

// ---- request checks (design 5.4; src/request.rs `Request::from_value`) --------------------

const hasOwn = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

/** A JSON object: not null, an array or a number. */
function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof JsonFloat);
}

function object(v, what) {
  if (!isObject(v)) throw new RequestError("E0702", `\`${what}\` must be a JSON object`);
  return v;
}

function optionalObject(obj, key, what) {
  const v = hasOwn(obj, key) ? obj[key] : null;
  return v === null || v === undefined ? {} : object(v, what);
}

function string(v, what) {
  if (typeof v !== "string") throw new RequestError("E0702", `\`${what}\` must be a string`);
  return v;
}

function required(obj, what, key) {
  if (!hasOwn(obj, key) || obj[key] === undefined) {
    throw new RequestError("E0703", `\`${what}\` lacks the key \`${key}\``);
  }
  return obj[key];
}

function knownKeys(obj, what, keys) {
  const unknown = sortedKeys(obj).find((k) => !keys.includes(k));
  if (unknown !== undefined) {
    throw new RequestError("E0704", `unknown key \`${unknown}\` in \`${what}\``);
  }
}

/**
 * Checks a request (a JS value, as `JSON.parse` or {@link parseJson} gives it) and returns it
 * in one shape: `{principal: {kind: "direct", id, groups, attrs} | {kind: "identity",
 * identity, claims, attrs} | {kind: "token", token, attrs}, action, path, resourceAttrs,
 * context}`. Throws a `RequestError` (E0701 a string or key with a lone surrogate, which JSON
 * text cannot hold; E0702 wrong JSON type, E0703 missing key, E0704 unknown key), checking in
 * the native order so the same request gets the same code.
 */
export function checkRequest(value) {
  checkText(value);
  return checkShape(value);
}

/** {@link checkRequest} for a value whose strings and keys are known to be well-formed. */
function checkShape(value) {
  const obj = object(value, "request");
  knownKeys(obj, "request", ["principal", "action", "resource", "context"]);
  const p = object(required(obj, "request", "principal"), "principal");
  let principal;
  if (hasOwn(p, "token")) {
    knownKeys(p, "principal", ["token", "attrs"]);
    principal = {
      kind: "token",
      token: string(required(p, "principal", "token"), "principal.token"),
      attrs: optionalObject(p, "attrs", "principal.attrs"),
    };
  } else if (hasOwn(p, "identity")) {
    knownKeys(p, "principal", ["identity", "claims", "attrs"]);
    principal = {
      kind: "identity",
      identity: string(required(p, "principal", "identity"), "principal.identity"),
      claims: object(required(p, "principal", "claims"), "principal.claims"),
      attrs: optionalObject(p, "attrs", "principal.attrs"),
    };
  } else {
    knownKeys(p, "principal", ["id", "groups", "attrs"]);
    const g = hasOwn(p, "groups") ? p.groups : null;
    let groups = [];
    // `Array.from`, not `map`: a hole in a sparse array is `undefined` (JSON's `null`), not skipped.
    if (Array.isArray(g)) groups = Array.from(g, (x) => string(x, "principal.groups[]"));
    else if (g !== null && g !== undefined) {
      throw new RequestError("E0702", "`principal.groups` must be a list of strings");
    }
    principal = {
      kind: "direct",
      id: string(required(p, "principal", "id"), "principal.id"),
      groups,
      attrs: optionalObject(p, "attrs", "principal.attrs"),
    };
  }
  const action = string(required(obj, "request", "action"), "action");
  const r = required(obj, "request", "resource");
  let path;
  let resourceAttrs = {};
  if (typeof r === "string") path = r;
  else {
    if (!isObject(r)) throw new RequestError("E0702", "`resource` must be a path string or a JSON object");
    knownKeys(r, "resource", ["path", "attrs"]);
    path = string(required(r, "resource", "path"), "resource.path");
    resourceAttrs = optionalObject(r, "attrs", "resource.attrs");
  }
  const context = optionalObject(obj, "context", "context");
  return { principal, action, path, resourceAttrs, context };
}

// ---- encoding (docs/wasm-abi.md "Request encoding") ---------------------------------------

/**
 * Orders strings by Unicode code point, which is the byte order of their UTF-8 (the order of
 * the native library's maps). Plain `<` compares UTF-16 units and puts U+E000..U+FFFF after
 * astral characters.
 */
export function compareStrings(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

function sortedKeys(obj) {
  return Object.keys(obj).sort(compareStrings);
}

/** The encoder's buffer, reused (encoding is synchronous); it grows for big requests. */
let scratch = new Uint8Array(1024);

class Writer {
  constructor() {
    this.buf = scratch;
    this.view = new DataView(this.buf.buffer);
    this.len = 0;
  }
  reserve(n) {
    if (this.len + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    bigger.set(this.buf.subarray(0, this.len));
    this.buf = scratch = bigger;
    this.view = new DataView(bigger.buffer);
  }
  u8(b) {
    this.reserve(1);
    this.buf[this.len++] = b;
  }
  u32(n) {
    this.reserve(4);
    this.view.setUint32(this.len, n, true);
    this.len += 4;
  }
  i64(n) {
    this.reserve(8);
    this.view.setBigInt64(this.len, n, true);
    this.len += 8;
  }
  /** A u32 length and the UTF-8 bytes (written here: `TextEncoder` is slow on short strings). */
  str(s) {
    this.reserve(4 + s.length * 3);
    const at = this.len;
    let i = at + 4;
    const buf = this.buf;
    for (let k = 0; k < s.length; k++) {
      let c = s.charCodeAt(k);
      if (c < 0x80) {
        buf[i++] = c;
        continue;
      }
      if (c >= 0xd800 && c <= 0xdfff) {
        const d = s.charCodeAt(k + 1);
        if (!(c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff)) {
          // `checkRequest` refuses these first; never send U+FFFD (another string) for one.
          throw new RequestError("E0701", "malformed JSON request: a string has a lone surrogate");
        }
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        k++;
      }
      if (c < 0x800) {
        buf[i++] = 0xc0 | (c >> 6);
      } else if (c < 0x10000) {
        buf[i++] = 0xe0 | (c >> 12);
        buf[i++] = 0x80 | ((c >> 6) & 0x3f);
      } else {
        buf[i++] = 0xf0 | (c >> 18);
        buf[i++] = 0x80 | ((c >> 12) & 0x3f);
        buf[i++] = 0x80 | ((c >> 6) & 0x3f);
      }
      buf[i++] = 0x80 | (c & 0x3f);
    }
    this.view.setUint32(at, i - at - 4, true);
    this.len = i;
  }
  /** Tags: 0 null, 1 string, 2 i64, 3 bool, 4 array, 5 anything else. */
  value(v, depth) {
    if (v === null || v === undefined) this.u8(0);
    else if (typeof v === "string") {
      this.u8(1);
      this.str(v);
    } else if (typeof v === "bigint" && v >= I64_MIN && v <= I64_MAX) {
      this.u8(2);
      this.i64(v);
    } else if (typeof v === "number" && Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 63) {
      this.u8(2);
      this.i64(BigInt(v));
    } else if (typeof v === "boolean") {
      this.u8(3);
      this.u8(v ? 1 : 0);
    } else if (Array.isArray(v) && depth < MAX_ARRAY_DEPTH) {
      this.u8(4);
      this.u32(v.length);
      for (const x of v) this.value(x, depth + 1);
    } else this.u8(5);
  }
  bytes() {
    return this.buf.slice(0, this.len);
  }
}

/** A claim by name: the exact key, else a dotted path through nested objects. */
function claimValue(claims, name) {
  if (hasOwn(claims, name)) return claims[name];
  let cur = claims;
  for (const part of name.split(".")) {
    if (!isObject(cur) || !hasOwn(cur, part)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/**
 * Claims as [name, value] pairs: every top-level claim first, then the dotted names of
 * nested claims (`realm_access.roles`), descending only through keys without a dot, so an
 * exact key wins over a nested path. What is sent when the module's meta is not known.
 */
function flattenClaims(claims) {
  const out = sortedKeys(claims).map((k) => [k, claims[k]]);
  const nested = (prefix, obj) => {
    for (const k of sortedKeys(obj)) {
      if (k.includes(".")) continue;
      const name = `${prefix}.${k}`;
      out.push([name, obj[k]]);
      if (isObject(obj[k])) nested(name, obj[k]);
    }
  };
  for (const k of sortedKeys(claims)) {
    if (!k.includes(".") && isObject(claims[k])) nested(k, claims[k]);
  }
  return out;
}

/**
 * The claims a module reads for `identity` (its user claim and groups claim, from
 * `rbac.meta`), as [name, value] pairs with the value `claimValue` finds; none for an identity
 * the module does not declare (it refuses the request, E0712, whatever the claims).
 */
function readClaims(meta, identity, claims) {
  const ident = meta.identities.find((i) => i.name === identity);
  if (!ident) return [];
  const names = ident.groups_claim == null ? [ident.user_claim] : [ident.user_claim, ident.groups_claim];
  return names.map((n) => [n, claimValue(claims, n)]).filter(([, v]) => v !== undefined);
}

/**
 * Encodes a request for a module. Returns `{bytes, attrs}`: the encoding, and the attributes
 * in the order they were sent (`[entity, name, value]`; error records count in this order).
 * Throws a `RequestError` for a request the JSON checks refuse, or a token principal (E0763:
 * tokens must be verified into an identity's claims before a module sees them). With the
 * module's `meta` (`policy.meta`), an identity principal's claims are only those the module
 * reads; without, every claim is sent, nested ones under their dotted names.
 */
export function encodeRequest(request, meta) {
  return encode(checkRequest(request), meta);
}

/** Encodes a request {@link checkRequest} returned. */
function encode(req, meta) {
  const p = req.principal;
  if (p.kind === "token") {
    throw new RequestError("E0763", "a token principal must be verified before deciding; this host does not verify tokens");
  }
  const w = new Writer();
  w.u32(MAGIC);
  if (p.kind === "direct") {
    w.u8(0);
    w.str(p.id);
    w.u32(p.groups.length);
    for (const g of p.groups) w.str(g);
  } else {
    w.u8(1);
    w.str(p.identity);
    const claims = meta ? readClaims(meta, p.identity, p.claims) : flattenClaims(p.claims);
    w.u32(claims.length);
    for (const [k, v] of claims) {
      w.str(k);
      w.value(v, 0);
    }
  }
  w.str(req.action);
  w.str(req.path);
  const attrs = [];
  for (const [entity, map] of [["principal", p.attrs], ["resource", req.resourceAttrs], ["context", req.context]]) {
    for (const k of sortedKeys(map)) attrs.push([entity, k, map[k]]);
  }
  w.u32(attrs.length);
  for (const [entity, k, v] of attrs) {
    w.u8({ principal: 0, resource: 1, context: 2 }[entity]);
    w.str(k);
    w.value(v, 0);
  }
  return { bytes: w.bytes(), attrs, request: req };
}

// ---- the module ---------------------------------------------------------------------------

/** Reads the `rbac.meta` custom section: the names behind the module's numbers. */
function readMeta(module) {
  const sections = WebAssembly.Module.customSections(module, "rbac.meta");
  if (sections.length !== 1) {
    throw new ModuleError("E0902", "the module has no `rbac.meta` section; build it with `rbac build --target wasm`");
  }
  return JSON.parse(new TextDecoder().decode(sections[0]));
}

/** The decision for an invalid request: deny, the errors, no reasons. */
export function invalid(errors) {
  return { decision: "deny", errors: errors.map((e) => ({ code: e.code, message: e.message })), reasons: [] };
}

/** Lexicographic order of arrays of strings, as Rust orders `Vec<String>`. */
function compareLists(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compareStrings(a[i], b[i]);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

/**
 * Sorts rule reasons as every engine does (src/eval/mod.rs `sort_reasons`): by the rule's
 * source position, subject, scope (everywhere first), chain and role, stable, then drops
 * repeats that follow each other.
 */
function sortReasons(items) {
  const sorted = items.slice().sort((a, b) => {
    for (let i = 0; i < 3; i++) if (a.key[i] !== b.key[i]) return a.key[i] - b.key[i];
    const x = a.reason;
    const y = b.reason;
    return (
      compareStrings(x.subject, y.subject) ||
      (x.scope === y.scope ? 0 : x.scope === null ? -1 : y.scope === null ? 1 : compareStrings(x.scope, y.scope)) ||
      compareLists(x.via, y.via) ||
      compareStrings(x.role, y.role)
    );
  });
  const out = [];
  for (const { reason } of sorted) {
    const last = out[out.length - 1];
    if (last === undefined || JSON.stringify(last) !== JSON.stringify(reason)) out.push(reason);
  }
  return out;
}

/** A loaded policy module. One decision at a time; keep one per worker and reuse it. */
export class Policy {
  /** `module` is a compiled `WebAssembly.Module` of a policy. */
  constructor(module) {
    this.meta = readMeta(module);
    // No imports: a policy module needs nothing from its host.
    const instance = new WebAssembly.Instance(module, {});
    this.exports = instance.exports;
    const version = this.exports.rbac_abi_version();
    if (version !== ABI_VERSION) {
      throw new ModuleError("E0903", `the module speaks ABI version ${version}; this host speaks ${ABI_VERSION}`);
    }
    this.inputPtr = this.exports.rbac_input_ptr() >>> 0;
    this.inputCap = this.exports.rbac_input_cap() >>> 0;
    this.outputPtr = this.exports.rbac_output_ptr() >>> 0;
  }

  /** The module's memory as bytes (fixed size, but re-read in case a runtime moved it). */
  get bytes() {
    return new Uint8Array(this.exports.memory.buffer);
  }

  /**
   * Runs `rbac_decide` on raw input bytes (an encoded request, or anything: for testing that
   * malformed input is denied). Returns what it returned: 1 allow, 0 deny, -code invalid.
   * Throws when the module traps.
   */
  decideRaw(input) {
    if (input.length > 0x7fffffff) return -706;
    this.bytes.set(input.subarray(0, this.inputCap), this.inputPtr);
    return this.exports.rbac_decide(input.length);
  }

  /**
   * Decides a request given as JSON text (parsed exactly as the native library parses it), or
   * as its UTF-8 bytes (a `Buffer`, `Uint8Array` or `ArrayBuffer`). Anything else is denied
   * with E0701, as malformed text is; never throws for a bad request.
   */
  decideJson(text) {
    let value;
    try {
      value = parseJson(text);
    } catch (e) {
      if (e instanceof RequestError) return invalid([e]);
      throw e;
    }
    // `parseJson` refuses lone surrogates itself: no need to look for them again.
    return this.#decide(() => encode(checkShape(value), this.meta));
  }

  /**
   * Decides a request: a JS value in the JSON form of design section 5.4. Numbers that are
   * integers (or `BigInt`s) within 64 bits are `int`s; to tell `1.0` from `1` as the native
   * library does, parse the text with {@link parseJson} or call {@link Policy#decideJson}.
   * A string or key with a lone surrogate (which JSON text cannot hold) is E0701, as the
   * native parser refuses `"\ud800"`. Returns the decision JSON object; never throws for a
   * bad request or a failing module.
   */
  decide(request) {
    return this.#decide(() => encodeRequest(request, this.meta));
  }

  /** Decides the request `encodeIt` encodes (it throws for an invalid one). */
  #decide(encodeIt) {
    let encoded;
    try {
      encoded = encodeIt();
    } catch (e) {
      if (e instanceof RequestError) return invalid([e]);
      // Reading the value failed (a getter or a proxy that throws): no JSON text is like it.
      return invalid([new RequestError("E0701", `malformed JSON request: the request cannot be read as JSON: ${describe(e)}`)]);
    }
    if (encoded.bytes.length > this.inputCap) {
      return invalid([
        new RequestError("E0706", `the request is ${encoded.bytes.length} bytes encoded; the module accepts at most ${this.inputCap}`),
      ]);
    }
    try {
      return this.#addSources(encoded.request, this.#run(encoded));
    } catch (e) {
      // A trap (or anything else going wrong in the module) is a deny, never an allow.
      return invalid([new RequestError("E0707", `the policy module failed: ${e && e.message}`)]);
    }
  }

  #run(encoded) {
    const result = this.decideRaw(encoded.bytes);
    const n = this.exports.rbac_output_len() >>> 0;
    const view = new DataView(this.exports.memory.buffer, this.outputPtr, n * 24);
    const records = [];
    for (let r = 0; r < n; r++) {
      const rec = [];
      for (let f = 0; f < 6; f++) rec.push(view.getUint32(r * 24 + f * 4, true));
      records.push(rec);
    }
    if (result < 0) {
      const errors = records.filter((r) => r[0] === 5).map((r) => this.#error(encoded, r[1], r[2], r[3]));
      return invalid(errors.length > 0 ? errors : [this.#error(encoded, -result, 0, 0)]);
    }
    const exclusive = records.filter((r) => r[0] === 4).map((r) => this.meta.roles[r[2]] ?? "");
    if (exclusive.length > 0) {
      const roles = [...new Set(exclusive)].sort(compareStrings);
      return { decision: "deny", errors: [], reasons: [{ kind: "exclusive", roles }] };
    }
    // Only reasons whose subject is the principal itself need its id (two more calls).
    const principal = records.some((r) => r[0] >= 1 && r[0] <= 3 && r[3] === 0) ? this.#principal() : "";
    const ofKind = (kind, name) =>
      sortReasons(records.filter((r) => r[0] === kind).map((r) => this.#ruleReason(r, principal, name)));
    if (result === 1) return { decision: "allow", errors: [], reasons: ofKind(1, "allow") };
    if (records.some((r) => r[0] === 2)) return { decision: "deny", errors: [], reasons: ofKind(2, "deny") };
    return { decision: "deny", errors: [], reasons: [{ kind: "no_rule" }, ...ofKind(3, "skipped")] };
  }

  /**
   * For an identity principal, adds to each reason whose subject is a group the identity,
   * groups claim and claim value that gave the group (the first value in the claim's order
   * when several do), from the identity's aliases in `rbac.meta`, as the native library does.
   */
  #addSources(request, decision) {
    const p = request.principal;
    if (p.kind !== "identity" || decision.errors.length > 0) return decision;
    const ident = this.meta.identities.find((i) => i.name === p.identity);
    if (!ident || ident.groups_claim == null) return decision;
    const values = claimValue(p.claims, ident.groups_claim);
    if (!Array.isArray(values)) return decision;
    const aliases = new Map(ident.aliases ?? []);
    const sources = new Map();
    for (const value of values) {
      if (typeof value !== "string") continue;
      for (const g of aliases.get(value) ?? []) {
        const name = this.meta.groups[g];
        if (name !== undefined && !sources.has(name)) {
          sources.set(name, { identity: ident.name, claim: ident.groups_claim, value });
        }
      }
    }
    for (const r of decision.reasons) {
      const source = typeof r.subject === "string" && r.subject.startsWith("group:") ? sources.get(r.subject.slice(6)) : undefined;
      if (source) Object.assign(r, source);
    }
    return decision;
  }

  /** The principal id the module decided for (`user:` + the user claim for identities). */
  #principal() {
    const ptr = this.exports.rbac_principal_ptr() >>> 0;
    const len = this.exports.rbac_principal_len() >>> 0;
    const bytes = this.bytes;
    if (ptr + len > bytes.length) throw new Error("the principal id lies outside memory");
    return UTF8_DECODER.decode(bytes.subarray(ptr, ptr + len));
  }

  /** A reason from a rule record (kinds 1-3: rule, chain, subject, node, slot + 1). */
  #ruleReason(r, principal, kind) {
    const m = this.meta;
    const rule = m.rules[r[1]];
    const subject = r[3] === 0 ? principal : r[3] === 1 ? "everyone" : `group:${m.groups[r[3] - 2] ?? "?"}`;
    const reason = {
      kind,
      role: rule ? m.roles[rule.role] ?? "" : "",
      via: (m.chains[r[2]] ?? []).map((x) => m.roles[x] ?? ""),
      subject,
      scope: m.nodes[r[4]] ?? null,
      at: rule ? rule.at : "",
    };
    if (r[5] > 0 && m.slots[r[5] - 1] !== undefined) reason.unevaluable = [m.slots[r[5] - 1]];
    return { key: rule ? rule.at_key : [0, 0, 0], reason };
  }

  /** An error record (kind 5: code, detail, detail) as `{code, message}`. */
  #error(encoded, code, d1, d2) {
    const m = this.meta;
    const req = encoded.request;
    const typeName = (t) => m.types[t]?.name ?? "?";
    const messages = {
      705: () => "the encoded request is malformed",
      706: () => "the encoded request is larger than the module accepts",
      711: () => `principal id \`${req.principal.id ?? ""}\` must be \`user:\` or \`service:\` followed by a name`,
      712: () => `unknown identity \`${req.principal.identity ?? ""}\``,
      713: () => `the user claim of identity \`${m.identities[d2]?.name ?? "?"}\` is missing, not a string or empty`,
      714: () => `claim \`${m.identities[d2]?.groups_claim ?? "groups"}\` must be a list of strings`,
      721: () => `malformed resource path \`${req.path}\``,
      722: () => `unknown resource type in path \`${req.path}\``,
      723: () => `path \`${req.path}\` does not follow the resource tree`,
      731: () => `action \`${req.action}\` is not declared on \`${typeName(d1)}\``,
      741: () => {
        const [entity, name] = encoded.attrs[d2] ?? ["?", "?"];
        return `attribute \`${entity}.${name}\` has a value of the wrong type`;
      },
    };
    if (!MODULE_ERRORS.has(code)) return new RequestError("E0705", `the module reported error ${code}`);
    return new RequestError(`E0${code}`, messages[code]());
  }
}

/** An exception's message, for an error message; never throws. */
function describe(e) {
  try {
    return String(e instanceof Error ? e.message : e);
  } catch {
    return "an exception";
  }
}

// Every module ends with a custom section `rbac.sha256` holding the SHA-256 of every byte
// before it (docs/wasm-abi.md): section 0, size 44, name length 11, the name, the digest.
const TRAILER = new Uint8Array([0, 44, 11, ...new TextEncoder().encode("rbac.sha256")]);

/** A module's bytes (a `Uint8Array`, `Buffer`, any other view or an `ArrayBuffer`); E0902 else. */
function moduleBytes(bytes) {
  const view = byteView(bytes);
  if (view === null) {
    const what = bytes === null ? "null" : Array.isArray(bytes) ? "an array" : typeof bytes;
    throw new ModuleError("E0902", `not a policy module: expected its bytes (a Uint8Array, Buffer or ArrayBuffer), got ${what}`);
  }
  return view;
}

/** Splits a module's bytes into those its digest covers and the digest; throws when it has none. */
function sealed(view) {
  const body = view.length - TRAILER.length - 32;
  if (body < 0 || !TRAILER.every((b, i) => view[body + i] === b)) {
    throw new ModuleError(
      "E0902",
      "the module does not end with an `rbac.sha256` digest; build it with `rbac build --target wasm`",
    );
  }
  return { body: view.subarray(0, body), digest: view.subarray(body + TRAILER.length) };
}

function checkDigest(actual, digest) {
  const a = new Uint8Array(actual);
  if (a.length !== digest.length || !a.every((b, i) => b === digest[i])) {
    throw new ModuleError("E0904", "the module is damaged: its bytes do not match its `rbac.sha256` digest");
  }
}

/**
 * Loads a policy module from its bytes (synchronous compile and SHA-256 check: Node; in a
 * browser use `loadPolicyAsync`). A module whose bytes do not match its digest is refused.
 */
export function loadPolicy(bytes) {
  const view = moduleBytes(bytes);
  const { body, digest } = sealed(view);
  const crypto = globalThis.process?.getBuiltinModule?.("node:crypto");
  if (!crypto) throw new Error("no synchronous SHA-256 here to check the module with: use loadPolicyAsync");
  checkDigest(crypto.createHash("sha256").update(body).digest(), digest);
  return asPolicyModule(() => new Policy(new WebAssembly.Module(view)));
}

/** Runs `load`; a failure other than a `ModuleError` (not WebAssembly, an export missing) is
 * E0902, as the Rust host says it. */
function asPolicyModule(load) {
  try {
    return load();
  } catch (e) {
    if (e instanceof ModuleError) throw e;
    throw new ModuleError("E0902", `not a policy module: ${e && e.message}`);
  }
}

/** Loads a policy module from its bytes with an asynchronous compile and check (browsers too). */
export async function loadPolicyAsync(bytes) {
  // A copy: the caller's buffer could change while the digest is computed.
  const view = moduleBytes(bytes).slice();
  const { body, digest } = sealed(view);
  checkDigest(await globalThis.crypto.subtle.digest("SHA-256", body), digest);
  let module;
  try {
    module = await WebAssembly.compile(view);
  } catch (e) {
    throw new ModuleError("E0902", `not a policy module: ${e && e.message}`);
  }
  return asPolicyModule(() => new Policy(module));
}
