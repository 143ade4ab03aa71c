//! Masking: request attributes named by a mask setting (`resource.owner`, `principal.id`,
//! `context.*`, `claims.email`) are replaced by `sha256:` and the hash of their canonical
//! JSON before an entry is written, so the log proves what was decided without keeping the
//! values. The same value always gives the same hash, so a known value can still be found.
//! A signed token (`{"token": "<JWT>"}`), a bearer credential, is always masked.

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
        Ok(Mask { fields })
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Masks a request (its JSON form, design 5.4) and, where the principal id is masked
    /// (or claims, from which it comes), the id wherever the decision repeats it.
    pub fn apply(&self, request: &mut Value, decision: &mut Value) {
        // INVARIANT: a bearer token never reaches the log, whatever the settings.
        if let Some(token) = request.pointer_mut("/principal/token")
            && !is_masked(token)
        {
            *token = masked(token);
        }
        let mut hide_id = false;
        let raw_id = request.pointer("/principal/id").and_then(Value::as_str).map(str::to_string);
        for f in &self.fields {
            let target = match (f.entity.as_str(), f.name.as_str()) {
                ("principal", "id") => {
                    hide_id = true;
                    if let Some(id) = request.pointer_mut("/principal/id") {
                        *id = masked(id);
                    }
                    continue;
                }
                ("principal", _) => request.pointer_mut("/principal/attrs"),
                ("resource", _) => request.pointer_mut("/resource/attrs"),
                ("context", _) => request.pointer_mut("/context"),
                _ => {
                    hide_id = true;
                    request.pointer_mut("/principal/claims")
                }
            };
            let Some(Value::Object(map)) = target else { continue };
            for (k, v) in map.iter_mut() {
                if (f.name == "*" || *k == f.name) && !is_masked(v) {
                    *v = masked(v);
                }
            }
        }
        if !hide_id {
            return;
        }
        if let Some(Value::Array(reasons)) = decision.get_mut("reasons") {
            for r in reasons {
                if let Some(s) = r.get_mut("subject")
                    && s.as_str().is_some_and(|s| s.starts_with("user:") || s.starts_with("service:"))
                {
                    *s = masked(s);
                }
            }
        }
        if let (Some(id), Some(Value::Array(errors))) = (raw_id, decision.get_mut("errors")) {
            let hidden = masked(&Value::String(id.clone()));
            for e in errors {
                if let Some(Value::String(m)) = e.get_mut("message") {
                    *m = m.replace(&id, hidden.as_str().unwrap_or_default());
                }
            }
        }
    }
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
}
