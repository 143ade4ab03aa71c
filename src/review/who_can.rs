//! `who-can`: every subject whose roles on the scopes of one resource decide an action there.
//!
//! Cost: O(d + g·r) for a path of depth d crossing g (subject, scope) grants of r rules on
//! the target (type, action) each: only the scope nodes on the path are visited, through the
//! index of grants by node, never the whole assignment list.

use super::access::{self, Access, Held, Status};
use super::index::AccessIndex;
use crate::compile::{EVERYONE, SubjectId};
use crate::request::RequestError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The answer to "who may do ACTION on PATH".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhoCan {
    /// The action asked about.
    pub action: String,
    /// The resource path asked about, as given (it may end in a bare type).
    pub path: String,
    /// Sorted by status (allowed, conditional, denied, exclusive, none), then subject.
    pub subjects: Vec<SubjectAccess>,
    /// Facts that matter for principals that are several subjects at once.
    pub notes: Vec<String>,
}

/// One subject's access: its own roles on the path's scopes together with `everyone`'s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectAccess {
    /// The subject: `everyone`, `group:NAME`, or a principal id (`user:ann`).
    pub subject: String,
    /// The access and the rules behind it (its fields flattened into this object in JSON).
    #[serde(flatten)]
    pub access: Access,
}

impl AccessIndex<'_> {
    /// Who may do `action` on `path`. A user or service listed here is read without groups,
    /// a group as a member with no roles of its own, and every subject together with
    /// `everyone`'s roles (which every principal holds). Subjects whose roles have no rule
    /// on the target are left out (`everyone`'s answer covers them).
    pub fn who_can(&self, action: &str, path: &str) -> Result<WhoCan, RequestError> {
        let policy = self.policy;
        let target = self.resolve(path)?;
        let a = self.action_on(action, target.ty)?;
        let mut own: BTreeMap<SubjectId, Vec<Held>> = BTreeMap::new();
        for &node in &target.nodes {
            for (subject, roles) in self.by_node.get(node as usize).map_or(&[][..], Vec::as_slice) {
                own.entry(*subject).or_default().extend(roles.iter().map(|&role| Held {
                    role,
                    subject: *subject,
                    node,
                }));
            }
        }
        // The path's own id (`resource.id`), or none for a bare type.
        let id = if target.bare { None } else { target.segments.last().map(|(_, id)| id.as_str()) };
        let known = access::Known { ty: target.ty, id: Some(id) };
        let everyone = own.remove(&EVERYONE).unwrap_or_default();
        let everyone_clash = access::clash(policy, &everyone);
        let mut subjects = Vec::new();
        let e = access::access(policy, self, &everyone, &everyone_clash, known, a);
        if !e.rules.is_empty() || !everyone_clash.is_empty() {
            subjects.push(SubjectAccess { subject: "everyone".to_string(), access: e });
        }
        for (subject, held) in &own {
            let name = self.subject_name(*subject);
            let mut all = held.clone();
            all.extend(everyone.iter().copied());
            let clash = access::clash(policy, &all);
            let acc = access::access(policy, self, &all, &clash, known, a);
            let own_rule = acc.rules.iter().any(|r| r.subject == name);
            if own_rule || (!clash.is_empty() && everyone_clash.is_empty()) {
                subjects.push(SubjectAccess { subject: name, access: acc });
            }
        }
        subjects
            .sort_by(|x, y| (rank(x.access.state.status), &x.subject).cmp(&(rank(y.access.state.status), &y.subject)));
        Ok(WhoCan { action: action.to_string(), path: path.to_string(), subjects, notes: self.split_exclusive(&own) })
    }

    /// Roles of one `exclusive` set held here by different subjects (not `everyone`, whose
    /// roles every subject's answer already counts): a principal that is several of them is
    /// denied everything here, which no single subject's answer shows.
    fn split_exclusive(&self, own: &BTreeMap<SubjectId, Vec<Held>>) -> Vec<String> {
        let policy = self.policy;
        let mut sets: BTreeMap<u32, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
        for (subject, held) in own {
            for h in held {
                for (set, member) in policy.role_exclusive.get(h.role.idx()).map_or(&[][..], Vec::as_slice) {
                    let role = policy.role_names.get(member.idx()).cloned().unwrap_or_default();
                    sets.entry(*set).or_default().entry(role).or_default().insert(self.subject_name(*subject));
                }
            }
        }
        let mut notes = Vec::new();
        // One principal can be a user or service, any groups, and everyone; never two users.
        let principal = |s: &str| s.starts_with("user:") || s.starts_with("service:");
        for members in sets.values() {
            let held: Vec<(&String, &String)> =
                members.iter().flat_map(|(role, subjects)| subjects.iter().map(move |s| (role, s))).collect();
            let one_principal_can_clash = held
                .iter()
                .any(|(r1, s1)| held.iter().any(|(r2, s2)| r1 != r2 && s1 != s2 && !(principal(s1) && principal(s2))));
            if one_principal_can_clash {
                let parts: Vec<String> = members
                    .iter()
                    .map(|(role, subjects)| {
                        let who: Vec<String> = subjects.iter().map(|s| format!("`{s}`")).collect();
                        format!("`{role}` ({})", who.join(", "))
                    })
                    .collect();
                notes.push(format!(
                    "roles of one `exclusive` set are held here by different subjects: {}; a principal that is \
                     more than one of them is denied everything here",
                    parts.join(", ")
                ));
            }
        }
        notes
    }
}

/// Listing order of statuses.
pub(crate) fn rank(s: Status) -> u8 {
    match s {
        Status::Allow => 0,
        Status::Conditional => 1,
        Status::Deny => 2,
        Status::Exclusive => 3,
        Status::None => 4,
    }
}
