//! Requests and decisions: the JSON forms of docs/language.md §10, shared by the library, the
//! CLI, policy tests and (later) the audit log and the WASM hosts.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;

mod read;

pub use crate::syntax::ast::{Effect, Entity};

/// An authorization request: who, what action, on which resource, with which attributes.
///
/// Read with `serde` (`serde_json::from_str`, a web framework's JSON extractor), a request is
/// read as [`Request::from_json`] reads it: every documented form (`"resource": "PATH"`,
/// `null` for `groups`, `attrs` or `context`), and a key given twice anywhere (`"owner"` in
/// `attrs` twice: a gateway may have read the first) is an error, never the last one kept.
/// An error of the request's shape (a field of the wrong type, a key missing or unknown)
/// starts with the code the decision would give (`E0702: ...`); text that is no JSON, or a
/// key given twice, is the reader's own error (`from_json` calls both E0701).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    /// Who asks.
    pub principal: Principal,
    /// The action asked for (`update`); it must be declared on the target type (E0731).
    pub action: String,
    /// The resource acted on.
    pub resource: ResourceRef,
    /// Values for declared `context` attributes.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub context: Map<String, Value>,
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Request, D::Error> {
        let read::Strict(value) = read::Strict::deserialize(d)?;
        Request::from_value(&value).map_err(|e| serde::de::Error::custom(format_args!("{}: {}", e.code, e.message)))
    }
}

/// A JSON object read as requests are (a key given twice is an error), `null` for none: the
/// attributes of a request's parts read with `serde`.
fn strict_object<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    match read::Strict::deserialize(d)?.0 {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        _ => Err(serde::de::Error::custom("E0702: attributes must be a JSON object")),
    }
}

/// Claims: a JSON object read as requests are (`null` is no claims, E0702, as `from_value`
/// has it).
fn strict_claims<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    match read::Strict::deserialize(d)?.0 {
        Value::Object(m) => Ok(m),
        _ => Err(serde::de::Error::custom("E0702: `principal.claims` must be a JSON object")),
    }
}

/// `groups`, `null` for none.
fn groups_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// The principal of a request: a direct id with groups, an identity's verified claims, or a
/// signed token that a [`crate::identity::TokenVerifier`] turns into an identity's claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Principal {
    /// A principal id with its groups: `{"id", "groups"?, "attrs"?}`.
    Direct(DirectPrincipal),
    /// An identity's claims, already verified by the caller: `{"identity", "claims", "attrs"?}`.
    Identity(IdentityPrincipal),
    /// A signed token to verify first: `{"token", "attrs"?}`.
    Token(TokenPrincipal),
}

/// `{"id": "user:carol@acme.com", "groups": ["ml_platform"], "attrs": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectPrincipal {
    /// `user:NAME` or `service:NAME`.
    pub id: String,
    /// Group names; names the policy does not declare are ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "groups_or_null")]
    pub groups: Vec<String>,
    /// Values for declared principal attributes.
    #[serde(default, skip_serializing_if = "Map::is_empty", deserialize_with = "strict_object")]
    pub attrs: Map<String, Value>,
}

/// `{"identity": "okta", "claims": {...}}`: claims already verified by the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityPrincipal {
    /// The name of an `identity` the policy declares (`okta`).
    pub identity: String,
    /// The verified claims: the identity's user claim gives the principal id (`user:VALUE`), its
    /// groups claim the groups.
    #[serde(deserialize_with = "strict_claims")]
    pub claims: Map<String, Value>,
    /// Values for declared principal attributes.
    #[serde(default, skip_serializing_if = "Map::is_empty", deserialize_with = "strict_object")]
    pub attrs: Map<String, Value>,
}

/// `{"token": "<JWT>", "attrs": {...}}`: a signed token, not yet verified. Only
/// [`crate::Policy::decide_with`] decides it (after verifying it); `Policy::decide` denies it
/// with E0763. Its `Debug` form does not show the token, a bearer credential.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenPrincipal {
    /// The signed token (a JWT in compact form), a bearer credential.
    pub token: String,
    /// Values for declared principal attributes.
    #[serde(default, skip_serializing_if = "Map::is_empty", deserialize_with = "strict_object")]
    pub attrs: Map<String, Value>,
}

impl std::fmt::Debug for TokenPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPrincipal")
            .field("token", &format_args!("<{} bytes>", self.token.len()))
            .field("attrs", &self.attrs)
            .finish()
    }
}

/// `{"path": "workspace:prod/project:churn/pipeline:train", "attrs": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceRef {
    /// The resource path in policy syntax: `type:id` segments joined by `/`, ids quoted where
    /// needed.
    pub path: String,
    /// Values for the target type's declared attributes.
    #[serde(default, skip_serializing_if = "Map::is_empty", deserialize_with = "strict_object")]
    pub attrs: Map<String, Value>,
}

impl Request {
    /// A request for a principal id with groups, without attributes.
    pub fn new(principal: &str, groups: &[&str], action: &str, path: &str) -> Request {
        Request {
            principal: Principal::Direct(DirectPrincipal {
                id: principal.to_string(),
                groups: groups.iter().map(|g| (*g).to_string()).collect(),
                attrs: Map::new(),
            }),
            action: action.to_string(),
            resource: ResourceRef { path: path.to_string(), attrs: Map::new() },
            context: Map::new(),
        }
    }

    /// Sets an attribute of the principal, the resource or the context (a word from input:
    /// [`Entity::parse`]; a misspelt one cannot land in another entity's attributes).
    pub fn with_attr(mut self, entity: Entity, name: &str, value: Value) -> Request {
        let map = match entity {
            Entity::Principal => match &mut self.principal {
                Principal::Direct(p) => &mut p.attrs,
                Principal::Identity(p) => &mut p.attrs,
                Principal::Token(p) => &mut p.attrs,
            },
            Entity::Resource => &mut self.resource.attrs,
            Entity::Context => &mut self.context,
        };
        map.insert(name.to_string(), value);
        self
    }

    /// Parses one JSON request, naming the first problem precisely (an unknown key, a field
    /// of the wrong JSON type) so the caller can turn it into an invalid-request decision.
    ///
    /// The common shape (a principal `id` with `groups` and `attrs`) is read straight into
    /// the request; any other is read through a [`Value`], which names every problem.
    pub fn from_json(text: &str) -> Result<Request, RequestError> {
        if let Some(request) = read::request(text) {
            return Ok(request);
        }
        Request::from_value(&Request::json_value(text)?)
    }

    /// Parses JSON text as requests are read: like `serde_json::from_str`, except that an
    /// object giving a key twice is an error (JSON readers keep the last, while a gateway or a
    /// person may have read the first: such a request is malformed, E0701, not decided for
    /// whichever came last).
    pub fn json_value(text: &str) -> Result<Value, serde_json::Error> {
        if text.starts_with('\u{feff}') {
            return Err(serde::de::Error::custom(
                "the text starts with a byte order mark (U+FEFF), which JSON text does not have (RFC 8259)",
            ));
        }
        serde_json::from_str::<read::Strict>(text).map(|s| s.0)
    }

    /// Like [`Request::from_json`], from an already parsed JSON value.
    pub fn from_value(value: &Value) -> Result<Request, RequestError> {
        let obj = object(value, "request")?;
        known_keys(obj, "request", &["principal", "action", "resource", "context"])?;
        let principal = object(required(obj, "request", "principal")?, "principal")?;
        let principal = if principal.contains_key("token") {
            known_keys(principal, "principal", &["token", "attrs"])?;
            Principal::Token(TokenPrincipal {
                token: string(required(principal, "principal", "token")?, "principal.token")?,
                attrs: optional_object(principal, "attrs", "principal.attrs")?,
            })
        } else if principal.contains_key("identity") {
            known_keys(principal, "principal", &["identity", "claims", "attrs"])?;
            Principal::Identity(IdentityPrincipal {
                identity: string(required(principal, "principal", "identity")?, "principal.identity")?,
                claims: object(required(principal, "principal", "claims")?, "principal.claims")?.clone(),
                attrs: optional_object(principal, "attrs", "principal.attrs")?,
            })
        } else {
            known_keys(principal, "principal", &["id", "groups", "attrs"])?;
            let groups = match principal.get("groups") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => {
                    items.iter().map(|g| string(g, "principal.groups[]")).collect::<Result<Vec<_>, _>>()?
                }
                Some(_) => return Err(RequestError::new("E0702", "`principal.groups` must be a list of strings")),
            };
            Principal::Direct(DirectPrincipal {
                id: string(required(principal, "principal", "id")?, "principal.id")?,
                groups,
                attrs: optional_object(principal, "attrs", "principal.attrs")?,
            })
        };
        let action = string(required(obj, "request", "action")?, "action")?;
        let resource = match required(obj, "request", "resource")? {
            Value::String(path) => ResourceRef { path: path.clone(), attrs: Map::new() },
            other => {
                let r = other
                    .as_object()
                    .ok_or_else(|| RequestError::new("E0702", "`resource` must be a path string or a JSON object"))?;
                known_keys(r, "resource", &["path", "attrs"])?;
                ResourceRef {
                    path: string(required(r, "resource", "path")?, "resource.path")?,
                    attrs: optional_object(r, "attrs", "resource.attrs")?,
                }
            }
        };
        let context = optional_object(obj, "context", "context")?;
        Ok(Request { principal, action, resource, context })
    }
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, RequestError> {
    v.as_object().ok_or_else(|| RequestError::new("E0702", format!("`{what}` must be a JSON object")))
}

fn optional_object(obj: &Map<String, Value>, key: &str, what: &str) -> Result<Map<String, Value>, RequestError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(v) => object(v, what).cloned(),
    }
}

fn string(v: &Value, what: &str) -> Result<String, RequestError> {
    v.as_str().map(str::to_string).ok_or_else(|| RequestError::new("E0702", format!("`{what}` must be a string")))
}

fn required<'a>(obj: &'a Map<String, Value>, what: &str, key: &str) -> Result<&'a Value, RequestError> {
    obj.get(key).ok_or_else(|| RequestError::new("E0703", format!("`{what}` lacks the key `{key}`")))
}

fn known_keys(obj: &Map<String, Value>, what: &str, keys: &[&str]) -> Result<(), RequestError> {
    match obj.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(RequestError::new(
            "E0704",
            format!(
                "unknown key `{k}` in `{what}` (expected {})",
                keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// Why a request is invalid: a stable code and a one-line message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestError {
    /// The stable code, `E07NN` (`E0731`).
    pub code: String,
    /// The one-line message.
    pub message: String,
}

impl RequestError {
    /// An error with `code` and `message`.
    pub fn new(code: &str, message: impl Into<String>) -> RequestError {
        RequestError { code: code.to_string(), message: message.into() }
    }
}

/// Text that is not JSON, or ends early, is a malformed request (E0701).
impl From<serde_json::Error> for RequestError {
    fn from(e: serde_json::Error) -> RequestError {
        RequestError::new("E0701", format!("malformed JSON request: {e}"))
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.code, self.message)
    }
}

impl std::error::Error for RequestError {}

/// A decision with its reasons (docs/language.md §9).
///
/// Its names (roles, chains, scopes, locations, group subjects) are borrowed from the
/// [`crate::Policy`] that decided, so writing reasons out does not copy them;
/// [`Decision::into_owned`] gives a `Decision<'static>` to keep past the policy. Decisions read
/// back from JSON own their names. The reasons of a default deny with nothing skipped (the
/// most common decision) are a borrowed `[Reason::NoRule]`: deciding it allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision<'p> {
    /// Allow or deny; an invalid request is denied.
    pub decision: Effect,
    /// Non-empty exactly when the request is invalid.
    pub errors: Vec<RequestError>,
    /// Why: the rules that decided, `exclusive`, or `no_rule` (docs/language.md §9); empty for an
    /// invalid request.
    pub reasons: Reasons<'p>,
}

/// A decision's reasons: a slice to read ([`std::ops::Deref`]), built from a `Vec`. The
/// reasons of a default deny with no skipped rule, the most common decision, are a shared
/// static `[Reason::NoRule]`, so deciding one allocates nothing. Serialized as a list.
#[derive(Clone, Default)]
pub struct Reasons<'p> {
    list: Vec<Reason<'p>>,
    /// `[Reason::NoRule]`, not in `list` (which is empty).
    no_rule: bool,
}

/// What a [`Reasons::no_rule`] reads as.
const NO_RULE: &[Reason<'static>] = &[Reason::NoRule];

impl<'p> Reasons<'p> {
    /// `[Reason::NoRule]`, without allocating.
    pub fn no_rule() -> Reasons<'p> {
        Reasons { list: Vec::new(), no_rule: true }
    }

    /// The reasons to change (a `[Reason::NoRule]` is copied out first).
    pub fn to_mut(&mut self) -> &mut Vec<Reason<'p>> {
        if std::mem::take(&mut self.no_rule) {
            self.list = NO_RULE.to_vec();
        }
        &mut self.list
    }

    /// The reasons as a `Vec`.
    pub fn into_vec(mut self) -> Vec<Reason<'p>> {
        self.to_mut();
        self.list
    }
}

impl<'p> std::ops::Deref for Reasons<'p> {
    type Target = [Reason<'p>];

    fn deref(&self) -> &[Reason<'p>] {
        if self.no_rule { NO_RULE } else { &self.list }
    }
}

impl<'p> From<Vec<Reason<'p>>> for Reasons<'p> {
    fn from(v: Vec<Reason<'p>>) -> Self {
        Reasons { list: v, no_rule: false }
    }
}

impl<'p> FromIterator<Reason<'p>> for Reasons<'p> {
    fn from_iter<I: IntoIterator<Item = Reason<'p>>>(iter: I) -> Self {
        Reasons { list: iter.into_iter().collect(), no_rule: false }
    }
}

impl<'a, 'p> IntoIterator for &'a Reasons<'p> {
    type Item = &'a Reason<'p>;
    type IntoIter = std::slice::Iter<'a, Reason<'p>>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl std::fmt::Debug for Reasons<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for Reasons<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Reasons<'_> {}

impl<'p> PartialEq<Vec<Reason<'p>>> for Reasons<'p> {
    fn eq(&self, other: &Vec<Reason<'p>>) -> bool {
        **self == **other
    }
}

impl Serialize for Reasons<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

impl<'de, 'p> Deserialize<'de> for Reasons<'p> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<Reason<'p>>::deserialize(d).map(Reasons::from)
    }
}

impl<'p> Decision<'p> {
    /// The decision for an invalid request: deny, no reasons, the errors.
    pub fn invalid(errors: Vec<RequestError>) -> Decision<'p> {
        Decision { decision: Effect::Deny, errors, reasons: Reasons::default() }
    }

    /// Whether the request is allowed: the decision is allow and no error came with it (a
    /// decision read from elsewhere, whose fields are public, may say both: that is a deny).
    pub fn is_allow(&self) -> bool {
        self.decision == Effect::Allow && self.errors.is_empty()
    }

    /// The same decision, owning its names.
    pub fn into_owned(self) -> Decision<'static> {
        Decision {
            decision: self.decision,
            errors: self.errors,
            reasons: self.reasons.into_vec().into_iter().map(Reason::into_owned).collect(),
        }
    }
}

/// One way the deciding rules were reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason<'p> {
    /// A matching allow rule (on allow).
    Allow(RuleReason<'p>),
    /// A deny rule that fired (on deny).
    Deny(RuleReason<'p>),
    /// Two roles of one `exclusive` set were held (separation of duty).
    Exclusive {
        /// The roles of every `exclusive` set of which two or more are held, sorted, without
        /// repeats.
        roles: Vec<String>,
    },
    /// No rule allows it.
    NoRule,
    /// An allow rule whose condition could not be evaluated (listed with `no_rule`).
    Skipped(RuleReason<'p>),
}

impl Reason<'_> {
    /// The same reason, owning its names.
    pub fn into_owned(self) -> Reason<'static> {
        match self {
            Reason::Allow(r) => Reason::Allow(r.into_owned()),
            Reason::Deny(r) => Reason::Deny(r.into_owned()),
            Reason::Exclusive { roles } => Reason::Exclusive { roles },
            Reason::NoRule => Reason::NoRule,
            Reason::Skipped(r) => Reason::Skipped(r.into_owned()),
        }
    }
}

/// Where a rule came from: the role holding it, the chain from the assigned role, the
/// matched subject and the assignment's scope (`None` for everywhere), and its location.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RuleReason<'p> {
    /// The role that holds the rule.
    pub role: Cow<'p, str>,
    /// The `extends` chain from the assigned role to `role` (`["developer", "contributor"]`;
    /// just `[role]` when it was assigned itself).
    pub via: Cow<'p, [String]>,
    /// The matched subject: the principal id, `group:NAME` or `everyone`.
    pub subject: Cow<'p, str>,
    /// The assignment's path (`workspace:prod`), `None` for everywhere.
    pub scope: Option<Cow<'p, str>>,
    /// The rule's `file:line:col` (1-based, column in characters).
    pub at: Cow<'p, str>,
    /// For a condition that could not be evaluated: the attribute whose absence stopped it
    /// (`["resource.owner"]`); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unevaluable: Vec<String>,
    /// When `subject` is a group an identity principal's claims gave: which identity, claim
    /// and claim value gave it (`"identity"`, `"claim"`, `"value"` in JSON).
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub source: Option<GroupSource>,
}

impl RuleReason<'_> {
    /// The same reason, owning its names.
    pub fn into_owned(self) -> RuleReason<'static> {
        RuleReason {
            role: Cow::Owned(self.role.into_owned()),
            via: Cow::Owned(self.via.into_owned()),
            subject: Cow::Owned(self.subject.into_owned()),
            scope: self.scope.map(|s| Cow::Owned(s.into_owned())),
            at: Cow::Owned(self.at.into_owned()),
            unevaluable: self.unevaluable,
            source: self.source,
        }
    }
}

/// The claim value that made an identity principal a member of a group: the value of the
/// identity's groups claim that is the group's alias (`group g from okta "VALUE";`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupSource {
    /// The identity's name (`okta`).
    pub identity: String,
    /// The identity's groups claim (`groups`, `realm_access.roles`).
    pub claim: String,
    /// The claim value whose alias selected the group (the first in the claim's order when
    /// several do).
    pub value: String,
}

/// The invalid-request errors of design section 5.1, built in one place so every engine
/// (native, WASM host) reports them with the same codes and words.
pub(crate) mod invalid {
    use super::RequestError;
    use serde_json::Value;

    pub fn foreign_part() -> RequestError {
        RequestError::new("E0742", "the prepared subject or target was resolved against another policy")
    }

    pub fn principal_id(id: &str) -> RequestError {
        RequestError::new("E0711", format!("principal id `{id}` must be `user:` or `service:` followed by a name"))
    }

    pub fn unknown_identity(name: &str) -> RequestError {
        RequestError::new("E0712", format!("unknown identity `{name}`"))
    }

    pub fn user_claim_missing(claim: &str) -> RequestError {
        RequestError::new("E0713", format!("the claims lack `{claim}`, which names the user"))
    }

    pub fn user_claim_not_string(claim: &str, identity: &str) -> RequestError {
        RequestError::new("E0713", format!("claim `{claim}` of identity `{identity}` is not a string"))
    }

    pub fn user_claim_empty(claim: &str, identity: &str) -> RequestError {
        RequestError::new("E0713", format!("claim `{claim}` of identity `{identity}` is empty"))
    }

    pub fn groups_claim(claim: &str) -> RequestError {
        RequestError::new("E0714", format!("claim `{claim}` must be a list of strings"))
    }

    pub fn malformed_path(path: &str, why: &str) -> RequestError {
        RequestError::new("E0721", format!("malformed resource path `{path}`: {why}"))
    }

    pub fn unknown_type(ty: &str, path: &str) -> RequestError {
        RequestError::new("E0722", format!("unknown resource type `{ty}` in path `{path}`"))
    }

    pub fn off_tree(path: &str, ty: &str, parent: Option<&str>) -> RequestError {
        let expected = match parent {
            Some(p) => format!("`{ty}` must be inside `{p}`"),
            None => format!("`{ty}` is a root type"),
        };
        RequestError::new("E0723", format!("path `{path}` does not follow the resource tree: {expected}"))
    }

    pub fn action(action: &str, ty: &str) -> RequestError {
        RequestError::new("E0731", format!("action `{action}` is not declared on `{ty}`"))
    }

    pub fn attr_type(entity: &str, name: &str, ty: &str, value: &Value) -> RequestError {
        const TWO_63: f64 = 9_223_372_036_854_775_808.0;
        // A number that is no `int`: what it lacks (JSON reads both as floating point).
        let note = match value {
            Value::Number(n) if ty == "int" && n.as_i64().is_none() => {
                // (2^63 and past it, or below -2^63: no `i64`.)
                if n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0 && !(-TWO_63..TWO_63).contains(&f)) {
                    " (outside the 64-bit integer range)"
                } else {
                    " (an `int` is a whole number written without a fraction or exponent)"
                }
            }
            _ => "",
        };
        RequestError::new("E0741", format!("attribute `{entity}.{name}` must be of type `{ty}`, got `{value}`{note}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request read with `serde` (as a web framework's JSON extractor reads it) is read as
    /// `from_json` reads it: the derived reader kept the last of a key given twice (an owner
    /// or a flag a gateway read otherwise) and refused the documented `"resource": "PATH"`.
    #[test]
    fn requests_read_with_serde_are_read_as_from_json_reads_them() {
        let texts = [
            r#"{"principal": {"id": "user:a", "attrs": {"mfa": false, "mfa": true}}, "action": "read", "resource": "doc:x"}"#,
            r#"{"principal": {"id": "user:a"}, "action": "read", "resource": {"path": "doc:x", "attrs": {"o": 1, "o": 2}}}"#,
            r#"{"principal": {"id": "user:a"}, "action": "read", "resource": "doc:x", "context": {"a": {"b": 1, "b": 2}}}"#,
            r#"{"principal": {"identity": "kc", "claims": {"sub": "a", "sub": "b"}}, "action": "read", "resource": "doc:x"}"#,
            r#"{"principal": {"id": "user:a", "groups": null}, "action": "read", "resource": "doc:x", "context": null}"#,
            r#"{"principal": {"id": "user:a"}, "action": "read", "resource": "doc:x", "extra": 1}"#,
            r#"{"principal": {"id": "user:a", "groups": [1]}, "action": "read", "resource": "doc:x"}"#,
            r#"{"principal": {"id": "user:a"}, "action": "read", "action": "write", "resource": "doc:x"}"#,
        ];
        for text in texts {
            let by_serde = serde_json::from_str::<Request>(text);
            match Request::from_json(text) {
                Ok(r) => assert_eq!(by_serde.ok(), Some(r), "{text}"),
                Err(e) => {
                    let err = by_serde.err().map(|e| e.to_string()).unwrap_or_default();
                    assert!(err.starts_with(&e.code) || e.code == "E0701", "{text}: {err} against {e:?}");
                    assert!(!err.is_empty(), "{text} was read by serde, refused by from_json ({e:?})");
                }
            }
        }
        let p = r#"{"id": "user:a", "groups": null, "attrs": {"k": 1, "k": 2}}"#;
        assert!(serde_json::from_str::<DirectPrincipal>(p).is_err(), "a repeated attribute");
        let p = r#"{"id": "user:a", "groups": null, "attrs": null}"#;
        assert_eq!(serde_json::from_str::<DirectPrincipal>(p).ok().map(|p| p.groups.len()), Some(0));
    }

    /// A byte order mark is named, not "expected value at line 1 column 1".
    #[test]
    fn a_byte_order_mark_is_named() {
        let err = Request::from_json(
            "\u{feff}{\"principal\": {\"id\": \"user:a\"}, \"action\": \"r\", \"resource\": \"d:x\"}",
        )
        .expect_err("a mark");
        assert_eq!(err.code, "E0701");
        assert!(err.message.contains("byte order mark (U+FEFF)"), "{}", err.message);
    }

    /// A number that is no `int` is told why.
    #[test]
    fn numbers_that_are_no_int_say_why() {
        let said = |n: &str| {
            invalid::attr_type("resource", "level", "int", &serde_json::from_str(n).expect("a number")).message
        };
        assert_eq!(
            said("99999999999999999999"),
            "attribute `resource.level` must be of type `int`, got `1e+20` (outside the 64-bit integer range)"
        );
        assert_eq!(
            said("18446744073709551615"),
            "attribute `resource.level` must be of type `int`, got `18446744073709551615` (outside the 64-bit integer range)"
        );
        assert_eq!(
            said("1e3"),
            "attribute `resource.level` must be of type `int`, got `1000.0` (an `int` is a whole number written without a fraction or exponent)"
        );
        assert_eq!(
            said("1.5"),
            "attribute `resource.level` must be of type `int`, got `1.5` (an `int` is a whole number written without a fraction or exponent)"
        );
        assert!(said("9.21e18").ends_with("(an `int` is a whole number written without a fraction or exponent)"));
        assert!(said("-9.3e18").ends_with("(outside the 64-bit integer range)"));
        let other = invalid::attr_type("resource", "level", "string", &serde_json::from_str("1.5").expect("a number"));
        assert_eq!(other.message, "attribute `resource.level` must be of type `string`, got `1.5`");
    }

    /// A resource is a path or an object, and its error says both.
    #[test]
    fn a_resource_of_another_type_is_refused_naming_both_forms() {
        for resource in ["5", "[]", "true"] {
            let text = format!(r#"{{"principal": {{"id": "user:a"}}, "action": "read", "resource": {resource}}}"#);
            let err = Request::from_json(&text).expect_err("no resource");
            assert_eq!(
                (err.code.as_str(), err.message.as_str()),
                ("E0702", "`resource` must be a path string or a JSON object")
            );
        }
    }

    #[test]
    fn a_decision_that_says_allow_with_errors_is_no_allow() {
        let read = |text: &str| serde_json::from_str::<Decision<'static>>(text).ok().map(|d| d.is_allow());
        assert_eq!(read(r#"{"decision": "allow", "errors": [], "reasons": []}"#), Some(true));
        let with_error = r#"{"decision": "allow", "errors": [{"code": "E0711", "message": "x"}], "reasons": []}"#;
        assert_eq!(read(with_error), Some(false));
    }

    #[test]
    fn entities_are_read_from_their_words_only() {
        let r =
            Request::new("user:a", &[], "read", "doc:x").with_attr(Entity::Resource, "owner", Value::from("user:a"));
        assert_eq!(r.resource.attrs.get("owner"), Some(&Value::from("user:a")));
        assert!(r.context.is_empty());
        assert_eq!(Entity::parse("context"), Some(Entity::Context));
        assert_eq!(Entity::parse("resouce"), None);
    }

    #[test]
    fn a_shared_no_rule_reads_writes_and_compares_as_the_list_it_stands_for() {
        let shared = Reasons::no_rule();
        let owned = Reasons::from(vec![Reason::NoRule]);
        assert_eq!(&*shared, &[Reason::NoRule]);
        assert_eq!(shared, owned);
        assert_eq!(shared, vec![Reason::NoRule]);
        assert_ne!(shared, Reasons::default());
        assert_eq!(serde_json::to_string(&shared).ok(), serde_json::to_string(&owned).ok());
        assert_eq!(format!("{shared:?}"), format!("{owned:?}"));
        let back: Reasons<'static> = serde_json::from_str(r#"[{"kind":"no_rule"}]"#).unwrap_or_default();
        assert_eq!(back, shared);
        let mut changed = shared.clone();
        changed.to_mut().push(Reason::Exclusive { roles: vec!["a".into()] });
        assert_eq!(changed.len(), 2);
        assert_eq!(shared.len(), 1, "the shared list itself is never changed");
        assert_eq!(changed.clone().into_vec(), changed.to_vec());
        assert_eq!(shared.into_vec(), vec![Reason::NoRule]);
    }
}
