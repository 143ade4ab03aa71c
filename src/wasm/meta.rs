//! The sidecar every module carries in its `rbac.meta` custom section: what a host needs to
//! turn the module's numeric output (rule, chain, node, slot and error records) back into
//! reasons and messages. JSON, written deterministically.

use super::WasmError;
use serde::{Deserialize, Serialize};

/// The name of the custom section holding a module's [`Meta`] as JSON.
pub const SECTION: &str = "rbac.meta";

/// The last section of every module: a custom section named `rbac.sha256` holding the
/// SHA-256 of every byte before it, so a host can tell a damaged module (one flipped bit of
/// a rule's effect turned a deny into an allow) from the one `rbac` wrote. It is always
/// these 14 bytes (section 0, size 44, name length 11, the name) and the 32-byte digest.
pub const DIGEST_TRAILER: &[u8; 14] = b"\x00\x2c\x0brbac.sha256";

/// The module with its digest section appended.
#[doc(hidden)]
pub fn seal(mut module: Vec<u8>) -> Vec<u8> {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(&module);
    module.extend_from_slice(DIGEST_TRAILER);
    module.extend_from_slice(&digest);
    module
}

/// Checks that `module` ends with the digest of the rest ([`seal`]): `E0904` when it does not
/// match, `E0902` when the module has none.
pub fn check_seal(module: &[u8]) -> Result<(), WasmError> {
    use sha2::Digest;
    let body_len = module.len().checked_sub(DIGEST_TRAILER.len() + 32);
    let body = body_len.and_then(|n| module.get(..n));
    let trailer = body_len.and_then(|n| module.get(n..n + DIGEST_TRAILER.len()));
    let digest = body_len.and_then(|n| module.get(n + DIGEST_TRAILER.len()..));
    match (body, trailer, digest) {
        (Some(body), Some(t), Some(d)) if t == DIGEST_TRAILER => {
            if sha2::Sha256::digest(body)[..] == *d {
                Ok(())
            } else {
                Err(WasmError::new("E0904", "the module is damaged: its bytes do not match its `rbac.sha256` digest"))
            }
        }
        _ => Err(WasmError::not_module(
            "the module does not end with an `rbac.sha256` digest; build it with `rbac build --target wasm`",
        )),
    }
}

/// The content of a module's `rbac.meta` section: the names behind the ids in the module's
/// output records, by id (docs/wasm-abi.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// The module's ABI version (`1`), as `rbac_abi_version` returns it.
    pub abi: u32,
    /// Resource types by id: name, parent id, declared attributes (name, type).
    pub types: Vec<MetaType>,
    /// The principal's declared attributes: (name, type) such as `("department", "string")`,
    /// sorted by name.
    pub principal_attrs: Vec<(String, String)>,
    /// The context's declared attributes: (name, type) such as `("mfa", "bool")`, sorted by name.
    pub context_attrs: Vec<(String, String)>,
    /// Role names by role id.
    pub roles: Vec<String>,
    /// Group names by group id; record subject `2 + g` is group `g`.
    pub groups: Vec<String>,
    /// The policy's identities, with the claims the module reads for each.
    pub identities: Vec<MetaIdentity>,
    /// Rules by id: holding role, effect, `file:line:col` and its sort key.
    pub rules: Vec<MetaRule>,
    /// `extends` chains by id (role ids, assigned role first).
    pub chains: Vec<Vec<u32>>,
    /// Scope nodes by id; `None` is everywhere.
    pub nodes: Vec<Option<String>>,
    /// Attribute slots by id (`resource.owner`); the last is `resource.id`.
    pub slots: Vec<String>,
    /// Exclusive sets by id (role ids).
    pub exclusive: Vec<Vec<u32>>,
}

/// A resource type in [`Meta::types`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaType {
    /// The type's name, as in resource paths (`workspace`).
    pub name: String,
    /// The parent type's id, or `None` for a root type.
    pub parent: Option<u32>,
    /// The type's declared attributes: (name, type) such as `("owner", "string")`, sorted by
    /// name.
    pub attrs: Vec<(String, String)>,
}

/// An identity in [`Meta::identities`]: which claims name the user and its groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaIdentity {
    /// The identity's name, as requests name it (`{"identity": ...}`).
    pub name: String,
    /// The claim that holds the user's name (`user from claim`): the principal id is `user:` + its
    /// value.
    pub user_claim: String,
    /// The claim that holds the user's groups (`groups from claim`), or `None` when the identity
    /// gives its principals no groups.
    pub groups_claim: Option<String>,
    /// Each value of the groups claim that is some group's alias, with those groups (ids),
    /// sorted by value: what a host needs to say which claim value gave a group.
    #[serde(default)]
    pub aliases: Vec<(String, Vec<u32>)>,
}

/// A rule in [`Meta::rules`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaRule {
    /// The id of the role the rule belongs to (an index into [`Meta::roles`]).
    pub role: u32,
    /// The rule's effect: `"allow"` or `"deny"`.
    pub effect: String,
    /// Where the rule is, `file:line:col`.
    pub at: String,
    /// (file load order, line, column) of the rule: hosts sort reasons on it, as the native
    /// evaluator does.
    pub at_key: (u32, u32, u32),
}
