//! The request encoding hosts write into a module's input buffer (docs/wasm-abi.md):
//! little-endian, strings as u32 length + UTF-8 bytes, values tagged.

use super::meta::Meta;
use crate::request::{Principal, Request};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// `RBQ1`, the first four bytes of every encoded request.
pub const MAGIC: u32 = 0x3151_4252;
/// Arrays nested deeper than this are sent as "other". No JSON reader here reads deeper
/// documents (serde_json and the hosts stop at 128 levels), so every array a request can
/// hold is sent as an array: a `set` type may nest up to 200 levels (E0104).
const MAX_DEPTH: usize = 128;

/// Where an encoded request goes: a `Vec`, or straight into a module's input buffer.
pub trait Out {
    fn put(&mut self, bytes: &[u8]);
    fn push(&mut self, byte: u8) {
        self.put(&[byte]);
    }
}

impl Out for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn push(&mut self, byte: u8) {
        Vec::push(self, byte);
    }
}

/// A fixed buffer (a module's input buffer) that counts what did not fit, so the caller
/// learns the full size of an oversized request.
pub struct Window<'a> {
    pub buf: &'a mut [u8],
    pub len: usize,
}

impl Out for Window<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
        }
        self.len = end;
    }
    fn push(&mut self, byte: u8) {
        if let Some(b) = self.buf.get_mut(self.len) {
            *b = byte;
        }
        self.len += 1;
    }
}

fn put_u32(out: &mut impl Out, n: usize) {
    out.put(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_str(out: &mut impl Out, s: &str) {
    put_u32(out, s.len());
    out.put(s.as_bytes());
}

/// Tags: 0 null, 1 string, 2 int (i64), 3 bool, 4 list, 5 anything else.
fn put_value(out: &mut impl Out, v: &Value, depth: usize) {
    match v {
        Value::Null => out.push(0),
        Value::String(s) => {
            out.push(1);
            put_str(out, s);
        }
        Value::Number(n) if n.as_i64().is_some() => {
            out.push(2);
            out.put(&n.as_i64().unwrap_or(0).to_le_bytes());
        }
        Value::Bool(b) => {
            out.push(3);
            out.push(u8::from(*b));
        }
        Value::Array(items) if depth < MAX_DEPTH => {
            out.push(4);
            put_u32(out, items.len());
            for i in items {
                put_value(out, i, depth + 1);
            }
        }
        _ => out.push(5),
    }
}

/// Claims as (name, value) pairs: every top-level claim first, then the dotted names of
/// nested claims (`realm_access.roles`), so an exact key wins over a nested path. What a
/// host sends when it does not know which claims the module reads ([`encode`]); a name is
/// as long as its path, so deeply nested claims grow quadratically.
fn flatten_claims<'a>(claims: &'a Map<String, Value>, out: &mut Vec<(Cow<'a, str>, &'a Value)>) {
    for (k, v) in claims {
        out.push((Cow::Borrowed(k), v));
    }
    fn nested<'a>(prefix: &str, obj: &'a Map<String, Value>, out: &mut Vec<(Cow<'a, str>, &'a Value)>) {
        for (k, v) in obj {
            if k.contains('.') {
                continue;
            }
            let name = format!("{prefix}.{k}");
            out.push((Cow::Owned(name.clone()), v));
            if let Value::Object(inner) = v {
                nested(&name, inner, out);
            }
        }
    }
    for (k, v) in claims {
        if let (false, Value::Object(inner)) = (k.contains('.'), v) {
            nested(k, inner, out);
        }
    }
}

/// The claims the module reads for `identity` (its user claim and groups claim, from
/// `rbac.meta`), each under its name with the value the native evaluator finds for it (the
/// exact key, else the dotted path): what [`encode_for`] sends. None for an identity the
/// module does not declare, which it refuses (E0712) whatever the claims.
fn read_claims<'a>(meta: &'a Meta, identity: &str, claims: &'a Map<String, Value>) -> Vec<(Cow<'a, str>, &'a Value)> {
    let Some(ident) = meta.identities.iter().find(|i| i.name == identity) else { return Vec::new() };
    std::iter::once(ident.user_claim.as_str())
        .chain(ident.groups_claim.as_deref())
        .filter_map(|name| crate::eval::claim(claims, name).map(|v| (Cow::Borrowed(name), v)))
        .collect()
}

fn put_attrs(out: &mut impl Out, entity: u8, attrs: &Map<String, Value>) {
    for (k, v) in attrs {
        out.push(entity);
        put_str(out, k);
        put_value(out, v, 0);
    }
}

/// Encodes a request for any module. An identity principal's claims are all sent, nested
/// ones under their dotted names (docs/wasm-abi.md); [`encode_for`] sends only those the
/// module reads.
pub fn encode(req: &Request) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    encode_to(req, None, &mut out);
    out
}

/// Encodes a request for the module whose `rbac.meta` is `meta`: an identity principal's
/// claims are only those its identity reads, so the size of the rest of a token does not
/// count against the module's input. As [`WasmPolicy`](super::WasmPolicy) sends them.
pub fn encode_for(req: &Request, meta: &Meta) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    encode_to(req, Some(meta), &mut out);
    out
}

/// Encodes a request into `out`: for the module of `meta` when given ([`encode_for`]), else
/// for any ([`encode`]).
pub(super) fn encode_to(req: &Request, meta: Option<&Meta>, out: &mut impl Out) {
    out.put(&MAGIC.to_le_bytes());
    let principal_attrs = match &req.principal {
        Principal::Direct(p) => {
            out.push(0);
            put_str(out, &p.id);
            put_u32(out, p.groups.len());
            for g in &p.groups {
                put_str(out, g);
            }
            &p.attrs
        }
        Principal::Identity(p) => {
            out.push(1);
            put_str(out, &p.identity);
            let claims = match meta {
                Some(meta) => read_claims(meta, &p.identity, &p.claims),
                None => {
                    let mut all = Vec::new();
                    flatten_claims(&p.claims, &mut all);
                    all
                }
            };
            put_u32(out, claims.len());
            for (k, v) in claims {
                put_str(out, &k);
                put_value(out, v, 0);
            }
            &p.attrs
        }
        // Never reached through `WasmPolicy::decide`, which denies unverified tokens; a tag
        // the module does not know is malformed input, which it denies.
        Principal::Token(p) => {
            out.push(2);
            &p.attrs
        }
    };
    put_str(out, &req.action);
    put_str(out, &req.resource.path);
    put_u32(out, principal_attrs.len() + req.resource.attrs.len() + req.context.len());
    put_attrs(out, 0, principal_attrs);
    put_attrs(out, 1, &req.resource.attrs);
    put_attrs(out, 2, &req.context);
}
