//! Masking: request attributes named by a mask setting (`resource.owner`, `principal.id`,
//! `context.*`, `claims.email`) are replaced by `sha256:` and the hash of their canonical
//! JSON before an entry is written, so the log proves what was decided without keeping the
//! values. The same value always gives the same hash, so a known value can still be found.
//! A signed token (`{"token": "<JWT>"}`), a bearer credential, is always masked; so is
//! anything else in the entry that reads as a JWT, wherever a client put it (the principal
//! id, a bare JSON string, an attribute such as `Bearer <JWT>`), since rejected requests are
//! logged as sent.

use super::canonical::{canonical_json, sha256_hex};
use serde_json::Value;

/// One masked field: an entity (`principal`, `resource`, `context`, `claims`) and a name,
/// `id` for the principal id, `*` for all of the entity's attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    entity: String,
    name: String,
}

/// The fields to mask.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mask {
    fields: Vec<Field>,
    /// (identity, the claim that names its users).
    user_claims: Vec<(String, String)>,
}

/// A value as it is written when masked: `sha256:` and the hash of its canonical JSON.
pub fn masked(v: &Value) -> Value {
    Value::String(format!("sha256:{}", sha256_hex(canonical_json(v).as_bytes())))
}

impl Mask {
    /// Reads settings like `resource.owner`, `principal.id`, `context.*`, `claims.email`.
    pub fn parse<S: AsRef<str>>(specs: &[S]) -> Result<Mask, String> {
        let mut fields = Vec::new();
        for spec in specs {
            let spec = spec.as_ref();
            let ok = |n: &str| n == "*" || (!n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
            match spec.split_once('.') {
                Some((entity @ ("principal" | "resource" | "context" | "claims"), name)) if ok(name) => {
                    fields.push(Field { entity: entity.to_string(), name: name.to_string() })
                }
                _ => {
                    return Err(format!(
                        "cannot mask `{spec}`: expected `principal.id`, or `principal`, `resource`, `context` or \
                         `claims` then `.NAME` or `.*`"
                    ));
                }
            }
        }
        Ok(Mask { fields, user_claims: Vec::new() })
    }

    /// Whether no field is to be masked (tokens are masked all the same).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Masks a request (its JSON form, design 5.4) and, where the principal id is masked
    /// (or claims, from which it comes), the id wherever the decision repeats it. Tokens are
    /// always masked, wherever they are.
    pub fn apply(&self, request: &mut Value, decision: &mut Value) {
        // INVARIANT: a bearer token never reaches the log, whatever the settings: the token
        // principal's (a string or not), and any JWT anywhere else in the request or the
        // decision (a request that is rejected is logged as sent, mistakes included).
        if let Some(token) = request.pointer_mut("/principal/token")
            && !is_masked(token)
        {
            *token = masked(token);
        }
        self.mask_fields(request, decision);
        scrub_tokens(request);
        scrub_tokens(decision);
    }

    fn mask_fields(&self, request: &mut Value, decision: &mut Value) {
        let hide_id = self.hides_id();
        let raw_id = request.pointer("/principal/id").and_then(Value::as_str).map(str::to_string);
        // Each masked value as error messages quote it (`` `VALUE` ``) and its mask, so that an
        // error about a masked attribute (E0741 repeats the value) does not undo the mask.
        // Only a decision with errors can quote a value.
        let has_errors = decision.get("errors").and_then(Value::as_array).is_some_and(|e| !e.is_empty());
        let mut quoted: Vec<(String, String)> = Vec::new();
        let mut hide = |v: &mut Value| {
            if !is_masked(v) {
                let m = masked(v);
                if has_errors {
                    quoted.push((format!("`{v}`"), format!("`{}`", m.as_str().unwrap_or_default())));
                }
                *v = m;
            }
        };
        let mut masked_claims: Vec<&str> = Vec::new();
        for f in &self.fields {
            let target = match (f.entity.as_str(), f.name.as_str()) {
                ("principal", "id") => {
                    if let Some(id) = request.pointer_mut("/principal/id") {
                        hide(id);
                    }
                    // A principal given by claims (a verified token's among them) has the
                    // id its identity's user claim gives.
                    let identity = request.pointer("/principal/identity").and_then(Value::as_str);
                    if let Some(claim) = identity.and_then(|i| self.user_claim(i)).map(str::to_string)
                        && let Some(Value::Object(claims)) = request.pointer_mut("/principal/claims")
                        && let Some(v) = claim_mut(claims, &claim)
                    {
                        hide(v);
                    }
                    continue;
                }
                ("principal", _) => request.pointer_mut("/principal/attrs"),
                ("resource", _) => request.pointer_mut("/resource/attrs"),
                ("context", _) => request.pointer_mut("/context"),
                _ => {
                    masked_claims.push(&f.name);
                    request.pointer_mut("/principal/claims")
                }
            };
            let Some(Value::Object(map)) = target else { continue };
            for (k, v) in map.iter_mut() {
                if f.name == "*" || *k == f.name {
                    hide(v);
                }
            }
        }
        if let Some(Value::Array(reasons)) = decision.get_mut("reasons") {
            for r in reasons {
                // A group's reason names the claim value that gave it.
                let from_masked = r
                    .get("claim")
                    .and_then(Value::as_str)
                    .is_some_and(|c| masked_claims.iter().any(|m| *m == "*" || *m == c || claim_within(c, m)));
                if from_masked && let Some(v) = r.get_mut("value") {
                    hide(v);
                }
                if hide_id
                    && let Some(s) = r.get_mut("subject")
                    && s.as_str().is_some_and(|s| s.starts_with("user:") || s.starts_with("service:"))
                {
                    *s = masked(s);
                }
            }
        }
        let Some(Value::Array(errors)) = decision.get_mut("errors") else { return };
        let id = raw_id.filter(|_| hide_id).map(|id| {
            let hidden = masked(&Value::String(id.clone()));
            (id, hidden.as_str().unwrap_or_default().to_string())
        });
        for e in errors {
            if let Some(Value::String(m)) = e.get_mut("message") {
                for (value, hidden) in quoted.iter().chain(&id) {
                    if m.contains(value.as_str()) {
                        *m = m.replace(value.as_str(), hidden);
                    }
                }
            }
        }
    }

    /// The user id of a principal given by claims (a verified token's among them), as its
    /// identity's user claim gives it ([`Mask::for_policy`]), masked where `principal.id` or a
    /// claim is: the decision entry's `principal`, by which `rbac audit show --principal`
    /// finds decisions whose request has no `principal.id`. `None` for other principals.
    pub(crate) fn principal_of(&self, request: &Value) -> Option<Value> {
        let identity = request.pointer("/principal/identity")?.as_str()?;
        let Some(Value::Object(claims)) = request.pointer("/principal/claims") else { return None };
        let id = match crate::eval::claim(claims, self.user_claim(identity)?) {
            Some(Value::String(s)) if !s.is_empty() => Value::String(format!("user:{s}")),
            _ => return None,
        };
        Some(if self.hides_id() { masked(&id) } else { id })
    }

    /// Whether the principal id is masked: `principal.id`, or a claim (from which it comes).
    fn hides_id(&self) -> bool {
        self.fields.iter().any(|f| matches!((f.entity.as_str(), f.name.as_str()), ("principal", "id") | ("claims", _)))
    }

    /// The claim that gives the user id of principals of `identity` ([`Mask::for_policy`]).
    fn user_claim(&self, identity: &str) -> Option<&str> {
        self.user_claims.iter().find(|(i, _)| i == identity).map(|(_, c)| c.as_str())
    }

    /// Learns from `policy` which claim each identity's user ids come from (`user from
    /// claim`), so that masking `principal.id` also masks that claim of a principal given by
    /// claims or by a verified token (which is logged as the claims it proved). Without it, a
    /// masked `principal.id` hides only a request's `principal.id` field.
    pub fn for_policy(mut self, policy: &crate::Policy) -> Mask {
        let identities = &policy.compiled().identities;
        self.user_claims = identities.iter().filter_map(|i| Some((i.name.clone(), i.user_claim.clone()?))).collect();
        self
    }
}

/// Whether the dotted claim name `claim` (`realm_access.roles`) is inside the claim `masked`
/// (`realm_access`), which masking hides whole.
fn claim_within(claim: &str, masked: &str) -> bool {
    claim.strip_prefix(masked).is_some_and(|rest| rest.starts_with('.'))
}

/// The claim `name` of `claims`, found as identities find it (`eval::claim`).
fn claim_mut<'a>(claims: &'a mut serde_json::Map<String, Value>, name: &str) -> Option<&'a mut Value> {
    let mut keys = crate::eval::claim_keys(claims, name);
    let mut at = claims.get_mut(keys.next()?)?;
    for k in keys {
        at = at.as_object_mut()?.get_mut(k)?;
    }
    Some(at)
}

/// Replaces every JWT (JWS or JWE compact form) in the strings and keys of `v` by its mask,
/// the hash of the token as a JSON string: a whole-string token becomes what masking that
/// field gives, and the same token always gives the same hash.
fn scrub_tokens(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Some(clean) = scrub_str(s) {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_tokens),
        Value::Object(map) => {
            if map.keys().any(|k| scrub_str(k).is_some()) {
                let old = std::mem::take(map);
                for (k, val) in old {
                    map.insert(scrub_str(&k).unwrap_or(k), val);
                }
            }
            map.values_mut().for_each(scrub_tokens);
        }
        _ => {}
    }
}

/// `s` with each JWT in it masked; `None` when it holds none.
///
/// A token is looked for in each run of characters that base64, URL query strings and URL
/// escapes use, at every place in it where a JWT header could start (`e`, `I`, `C` or `D`):
/// `access_token=<JWT>`, `/callback/<JWT>`, `Bearer+<JWT>`, `Bearer%20<JWT>`, `x-<JWT>`,
/// `v1.<JWT>` (a token found is masked from there to the end of the run). Each place is judged
/// in constant time from the run's dots, so a long string costs one pass.
fn scrub_str(s: &str) -> Option<String> {
    // A JWT has two dots at least; most strings are passed over here, and the rest are only
    // copied once a token is found in them.
    s.bytes().filter(|&b| b == b'.').nth(1)?;
    let is_run = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '/' | '=' | '%');
    let mut out: Option<String> = None;
    let mut done = 0;
    let mut at = 0;
    while let Some(start) = s.get(at..).and_then(|r| r.find(is_run)).map(|i| at + i) {
        let end = s.get(start..).and_then(|r| r.find(|c: char| !is_run(c))).map_or(s.len(), |i| start + i);
        let run = s.get(start..end).unwrap_or_default().as_bytes();
        if let Some(from) = jwt_in(run) {
            let from = start + from;
            let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
            o.push_str(s.get(done..from).unwrap_or_default());
            o.push_str(
                masked(&Value::String(s.get(from..end).unwrap_or_default().to_string())).as_str().unwrap_or_default(),
            );
            done = end;
        }
        at = end;
    }
    let mut out = out?;
    out.push_str(s.get(done..).unwrap_or_default());
    Some(out)
}

/// Where in `run` (ASCII) a JWT starts that goes on to the run's end, if one does.
fn jwt_in(run: &[u8]) -> Option<usize> {
    let dots: Vec<usize> = run.iter().enumerate().filter(|&(_, &b)| b == b'.').map(|(i, _)| i).collect();
    (0..run.len()).filter(|&p| matches!(run.get(p), Some(b'e' | b'I' | b'C' | b'D'))).find(|&p| {
        // The dots after `p`: the header ends at the first, and two are needed.
        let first = dots.partition_point(|&d| d < p);
        let Some(&header_end) = dots.get(first) else { return false };
        dots.len() - first >= 2 && run.get(p..header_end).is_some_and(looks_like_header)
    })
}

/// Whether `header` (a JWT's first part) is base64 of a JSON object with a key (`{"`, maybe
/// with whitespace before and between). Either base64 alphabet, padded or not, counts (a
/// client may have re-encoded a token), and nothing else is checked, so a damaged token counts
/// too. Only its first 16 characters are decoded.
fn looks_like_header(header: &[u8]) -> bool {
    use base64::Engine;
    // A JSON object's `{`, or the whitespace before it, starts the header's base64 with `e`
    // (`{`), `I` (space), `C` (tab, line feed) or `D` (carriage return).
    if header.len() < 8 || !matches!(header.first(), Some(b'e' | b'I' | b'C' | b'D')) {
        return false;
    }
    let header: Vec<u8> = header
        .iter()
        .take(16)
        .take_while(|&&c| c != b'=')
        .map(|&c| match c {
            b'+' => b'-',
            b'/' => b'_',
            c => c,
        })
        .collect();
    let prefix = header.get(..header.len() / 4 * 4).unwrap_or_default();
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(prefix) else { return false };
    let mut text = bytes.iter().filter(|b| !b.is_ascii_whitespace());
    text.next() == Some(&b'{') && text.next() == Some(&b'"')
}

fn is_masked(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.strip_prefix("sha256:").is_some_and(super::canonical::is_hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_named_attributes_and_the_id_everywhere() {
        let mask = Mask::parse(&["resource.owner", "principal.id", "context.*"]).unwrap_or_default();
        let mut req = json!({"principal": {"id": "user:ann", "attrs": {"dept": "ml"}}, "action": "read",
            "resource": {"path": "w:a", "attrs": {"owner": "user:bob", "size": 3}}, "context": {"mfa": true}});
        let mut dec = json!({"decision": "allow", "errors": [], "reasons": [{"kind": "allow", "subject": "user:ann"},
            {"kind": "allow", "subject": "group:g"}]});
        mask.apply(&mut req, &mut dec);
        let hidden = masked(&json!("user:ann"));
        assert_eq!(req.pointer("/principal/id"), Some(&hidden));
        assert_eq!(req.pointer("/principal/attrs/dept"), Some(&json!("ml")));
        assert_eq!(req.pointer("/resource/attrs/owner"), Some(&masked(&json!("user:bob"))));
        assert_eq!(req.pointer("/resource/attrs/size"), Some(&json!(3)));
        assert_eq!(req.pointer("/context/mfa"), Some(&masked(&json!(true))));
        assert_eq!(dec.pointer("/reasons/0/subject"), Some(&hidden));
        assert_eq!(dec.pointer("/reasons/1/subject"), Some(&json!("group:g")));
        let mut req = json!({"principal": {"token": "eyJhbGciOi.x.y"}, "action": "read", "resource": "w:a"});
        Mask::default().apply(&mut req, &mut dec);
        assert_eq!(req.pointer("/principal/token"), Some(&masked(&json!("eyJhbGciOi.x.y"))));
        assert!(Mask::parse(&["owner"]).is_err());
        assert!(Mask::parse(&["resource."]).is_err());
    }

    #[test]
    fn tokens_are_masked_wherever_they_are() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2ln";
        let hidden = masked(&json!(jwt));
        let hidden_text = hidden.as_str().unwrap_or_default();
        let mut req = json!({"principal": {"id": jwt}, "action": "read", "resource": "w:a",
            "context": {"auth": format!("Bearer {jwt}"), "list": [jwt], "id": "eyeshadow.palette.pink",
                        "v": "1.2.3", "n": 3}});
        let mut dec = json!({"decision": "deny", "reasons": [],
            "errors": [{"code": "E0711", "message": format!("principal id `{jwt}` must start with `user:`")}]});
        Mask::default().apply(&mut req, &mut dec);
        assert_eq!(req.pointer("/principal/id"), Some(&hidden));
        assert_eq!(req.pointer("/context/auth"), Some(&json!(format!("Bearer {hidden_text}"))));
        assert_eq!(req.pointer("/context/list/0"), Some(&hidden));
        assert_eq!(req.pointer("/context/id"), Some(&json!("eyeshadow.palette.pink")));
        assert_eq!(req.pointer("/context/v"), Some(&json!("1.2.3")));
        assert_eq!(
            dec.pointer("/errors/0/message"),
            Some(&json!(format!("principal id `{hidden_text}` must start with `user:`")))
        );
        // A nested groups claim masked by its outer claim: the reasons' value too.
        let mask = Mask::parse(&["claims.realm_access"]).unwrap_or_default();
        let mut req = json!({"principal": {"identity": "kc", "claims": {"realm_access": {"roles": ["admin"]}}}});
        let mut dec = json!({"decision": "allow", "errors": [], "reasons": [{"kind": "allow", "subject": "group:admins",
            "identity": "kc", "claim": "realm_access.roles", "value": "admin"}]});
        mask.apply(&mut req, &mut dec);
        assert_eq!(dec.pointer("/reasons/0/value"), Some(&masked(&json!("admin"))));
        assert!(!claim_within("realm_accessible", "realm_access"));
        // Re-encoded tokens: the standard base64 alphabet, padding, whitespace in the header.
        let standard = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOi+hbm4ifQ==.c2l/n";
        let spaced = "IHsiYWxnIjoiUlMyNTYifQ.eyJzdWIiOiJhbm4ifQ.c2ln"; // ` {"alg":"RS256"}`
        for t in [standard, spaced] {
            let mut v = json!({"auth": format!("Bearer {t}")});
            Mask::default().apply(&mut v, &mut json!({}));
            assert_eq!(v["auth"], json!(format!("Bearer {}", masked(&json!(t)).as_str().unwrap_or_default())), "{t}");
        }
        // A token inside a URL, a form or a longer name: after `=`, `/`, `+`, a `%XX` escape,
        // `-`, `_` or `.`, masked from there on (the text before it kept).
        for (before, after) in [
            ("/cb?access_token=", "&state=x"),
            ("/callback/", ""),
            ("Bearer+", ""),
            ("Bearer%20", ""),
            ("id_token=", ""),
            ("x-", ""),
            ("x_", ""),
            ("v1.", ""),
            ("id-token-", ""),
        ] {
            let mut v = json!(format!("{before}{jwt}{after}"));
            Mask::default().apply(&mut v, &mut json!({}));
            assert_eq!(v, json!(format!("{before}{hidden_text}{after}")), "{before}");
        }
        // Long strings of would-be starts are judged in one pass (no quadratic rescans).
        let long = format!("{}.a.b", "=eyJhbGciOi".repeat(100_000));
        let t = std::time::Instant::now();
        let mut v = json!(long);
        Mask::default().apply(&mut v, &mut json!({}));
        assert!(t.elapsed() < std::time::Duration::from_secs(2), "{:?}", t.elapsed());
        // A bare token, a token as a key, a damaged one, and one masked as the principal id.
        let mut bare = json!(jwt);
        Mask::default().apply(&mut bare, &mut json!({}));
        assert_eq!(bare, hidden);
        let mut keyed = json!({ jwt: 1, "eyJhbGciOi.x.y": 2 });
        Mask::default().apply(&mut keyed, &mut json!({}));
        assert!(!keyed.to_string().contains("eyJ"), "{keyed}");
        let mut req = json!({"principal": {"id": jwt}});
        Mask::parse(&["principal.id"]).unwrap_or_default().apply(&mut req, &mut json!({}));
        assert_eq!(req.pointer("/principal/id"), Some(&hidden));
    }
}
