//! The sidecar every module carries in its `rbac.meta` custom section: what a host needs to
//! turn the module's numeric output (rule, chain, node, slot and error records) back into
//! reasons and messages. JSON, written deterministically.

use serde::{Deserialize, Serialize};

pub const SECTION: &str = "rbac.meta";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub abi: u32,
    /// Resource types by id: name, parent id, declared attributes (name, type).
    pub types: Vec<MetaType>,
    pub principal_attrs: Vec<(String, String)>,
    pub context_attrs: Vec<(String, String)>,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaType {
    pub name: String,
    pub parent: Option<u32>,
    pub attrs: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaIdentity {
    pub name: String,
    pub user_claim: String,
    pub groups_claim: Option<String>,
    /// Each value of the groups claim that is some group's alias, with those groups (ids),
    /// sorted by value: what a host needs to say which claim value gave a group.
    #[serde(default)]
    pub aliases: Vec<(String, Vec<u32>)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaRule {
    pub role: u32,
    pub effect: String,
    pub at: String,
    pub at_key: (u32, u32, u32),
}
