//! Request validation (design section 5.1): resolves a request's names against the compiled
//! policy and types its attributes, or lists every reason it is invalid.

use super::cond::{Attrs, Env, Groups, Nodes, Resolved, SubjectList, Subjects, Who, add_subject};
use crate::check::ir::{GroupId, Ty, TypeId};
use crate::compile::{
    Chain, CompiledPolicy, FAST_PATH, FAST_SEGMENTS, Lookup, Rows, Segment, SubjectHash, last_slash, prefix_hash,
    prefix_hashes,
};
use crate::path::{ID, skip};
use crate::request::{Principal, Request, RequestError, invalid};
use serde_json::{Map, Value};
use smallvec::SmallVec;
use std::borrow::Cow;
use std::collections::BTreeMap;

static NO_ATTRS: BTreeMap<String, Ty> = BTreeMap::new();

/// Whether a principal id is `user:` or `service:` followed by at least one character.
pub(crate) fn principal_id_ok(id: &str) -> bool {
    ["user:", "service:"].iter().any(|pre| id.strip_prefix(pre).is_some_and(|rest| !rest.is_empty()))
}

/// Up to this many group names, [`fast`] sorts a request's groups in a fixed array; more go
/// through [`many_groups`]. Identity providers often give several groups: at 4, a request
/// with a fifth group took `many_groups` (collect, sort, a heap list), 150 ns more at M.
const FAST_GROUPS: usize = 8;

/// The common case in one pass (and, with up to four group names, without allocating; with
/// more the subjects' list may move to the heap): a direct principal, a path without quoted
/// ids, every name known and every attribute of its declared type. Hands what it resolved to
/// `decide` where it lies, on this function's stack (returning it would copy some 400 bytes),
/// and returns the principal id.
/// `None` when any of that does not hold; [`full`] then reads the request again and names
/// every problem. `decide` is a `dyn` closure on purpose: a generic one changed how the path
/// scan was inlined and cost more instructions than the copy it saves.
pub(super) fn fast<'a>(
    policy: &'a CompiledPolicy,
    req: &'a Request,
    decide: &mut dyn FnMut(&Env<'_>),
) -> Option<&'a str> {
    let Principal::Direct(p) = &req.principal else { return None };
    let id = p.id.as_str();
    if !principal_id_ok(id) {
        return None;
    }
    let lookup = &policy.lookup;
    // The subjects' and the path prefixes' index slots are asked for (prefetched) as soon as
    // their hashes are known, and probed only after the path scan; a found subject's rows are
    // asked for before the scope chain is found. Their cache misses then overlap with each
    // other and with the scan instead of following each other (1,000 requests cycled: M
    // -8%, L -12%; S, all in cache, +3%).
    let few = p.groups.len() <= FAST_GROUPS;
    let principal_hash = lookup.prefetch_subject(false, id);
    let mut group_hashes: [SubjectHash; FAST_GROUPS] = [0; FAST_GROUPS];
    if few {
        for (h, name) in group_hashes.iter_mut().zip(&p.groups) {
            *h = lookup.prefetch_subject(true, name);
        }
    }

    // The path and the path up to its last `/` are hashed whole here and their slots asked
    // for; they are probed after the subjects' (so the misses overlap). Where either is a
    // scope node (most requests name a node or a resource right below one), the node gives
    // the chain and its type, and the text up to it is valid by being its path; only the last
    // segment is then read. Otherwise the path is scanned segment by segment.
    let text = req.resource.path.as_str();
    let path = text.as_bytes();
    if path.len() > FAST_PATH {
        return None;
    }
    let cut = last_slash(path);
    let (whole, parent_hash) = prefix_hashes(path, cut.unwrap_or(0));
    lookup.prefetch_prefix(whole);
    // The path up to its last `/`, with its hash.
    let parent = cut.and_then(|at| {
        lookup.prefetch_prefix(parent_hash);
        Some((path.get(..at)?, parent_hash))
    });
    let mut subjects = Subjects::new();
    if let Some(rows) = lookup.principal_hashed(id, principal_hash) {
        lookup.prefetch_rows(rows);
        add_subject(&mut subjects, Who::Principal, rows);
    }
    // The declared groups, sorted by id without repeats: up to `FAST_GROUPS` group names in
    // a fixed array (read in place, not copied), more in `many_groups`. Unused places hold an
    // id no group has, so a repeat is found by comparing with all places: no loop exit that
    // depends on the request's groups (callgrind's branch simulator: 1.2 fewer mispredicted
    // branches a request at S; in time within the noise of code layout).
    let mut ids = [GroupId(u32::MAX); FAST_GROUPS];
    let many: Groups;
    let groups: &[GroupId] = if few {
        let mut runs = [Rows::default(); FAST_GROUPS];
        let mut n = 0;
        for (name, &hash) in p.groups.iter().zip(&group_hashes) {
            let Some((g, rows)) = lookup.group_hashed(name, hash) else { continue };
            if ids.iter().fold(false, |seen, &k| seen | (k == g)) {
                continue;
            }
            lookup.prefetch_rows(rows);
            *ids.get_mut(n)? = g;
            *runs.get_mut(n)? = rows;
            let mut k = n;
            while k > 0 && ids.get(k - 1).is_some_and(|&prev| prev > g) {
                ids.swap(k - 1, k);
                runs.swap(k - 1, k);
                k -= 1;
            }
            n += 1;
        }
        for (&g, &rows) in ids.iter().zip(&runs).take(n) {
            add_subject(&mut subjects, Who::Group(g), rows);
        }
        ids.get(..n)?
    } else {
        many = many_groups(lookup, &p.groups, &mut subjects);
        &many
    };
    add_subject(&mut subjects, Who::Everyone, lookup.everyone_rows());

    let last_start = cut.map_or(0, |at| at + 1);
    let known = match lookup.node(whole, path) {
        // The path is a node's: the target's id follows its type's name in the last segment.
        Some((t, chain)) => {
            let id_start = last_start + policy.types.get(t.idx())?.name.len() + 1;
            Some((t, Some((id_start, path.len())), chain))
        }
        None => match parent.and_then(|(p, hash)| lookup.node(hash, p)) {
            // Below a node that may have an unindexed child: left to the scan.
            Some((_, chain)) if chain.len() >= FAST_SEGMENTS => None,
            Some((t, chain)) => {
                let (target, end) = lookup.path_type(&policy.types, Some(t), path, last_start)?;
                match path.get(end) {
                    // A bare type ends the path: the target has no id.
                    None => Some((target, None, chain)),
                    Some(b':') => {
                        let id_end = skip(path, end + 1, ID);
                        if id_end == end + 1 || id_end != path.len() {
                            return None;
                        }
                        Some((target, Some((end + 1, id_end)), chain))
                    }
                    Some(_) => return None,
                }
            }
            None => None,
        },
    };
    let (target, id_at, chain) = match known {
        Some(found) => found,
        None => scan_path(lookup, &policy.types, path)?,
    };
    // Sliced once, here: a `str` slice tests both ends for character boundaries.
    let resource_id = match id_at {
        Some((start, end)) => Some(text.get(start..end)?),
        None => None,
    };

    // Everywhere (node 0), then the chain: at most one node a segment.
    let mut nodes = [0; FAST_SEGMENTS + 1];
    for (node, n) in nodes.iter_mut().skip(1).zip(chain) {
        *node = u32::from_le_bytes(*n);
    }
    let nodes = nodes.get(..=chain.len())?;
    let ty = policy.types.get(target.idx())?;
    let (_, pair) = lookup.action(&policy.actions, target, &req.action)?;
    if !attrs_fit(&p.attrs, &policy.principal_attrs)
        || !attrs_fit(&req.resource.attrs, &ty.attrs)
        || !attrs_fit(&req.context, &policy.context_attrs)
    {
        return None;
    }
    let env = Env {
        principal_id: id,
        groups,
        subjects: SubjectList::Found(&subjects),
        resource_id,
        chain: Chain::new(nodes),
        pair,
        attrs: Attrs {
            principal: &p.attrs,
            resource: &req.resource.attrs,
            context: &req.context,
            principal_decl: &policy.principal_attrs,
            resource_decl: &ty.attrs,
            context_decl: &policy.context_attrs,
        },
    };
    decide(&env);
    Some(id)
}

/// A resolved path: the target type, where the last segment's id lies in the path (none for a
/// bare type), and the chain of scope nodes (little-endian ids, root-most first).
type PathFound<'a> = (TypeId, Option<(usize, usize)>, &'a [[u8; 4]]);

/// The path's types in one scan, each whole prefix whose type has scope nodes hashed for the
/// scope lookup: the target type, where the last segment's id lies, and the chain of the
/// deepest prefix that is a node. For [`fast`], where neither the path nor its parent is a
/// node.
#[inline(never)]
fn scan_path<'a>(lookup: &'a Lookup, types: &[crate::compile::CType], path: &[u8]) -> Option<PathFound<'a>> {
    let mut i = 0;
    let mut prev = None;
    // The segments that may be scope nodes; paths with more are left to the full validator.
    let mut segments = [Segment::default(); FAST_SEGMENTS];
    let mut depth = 0;
    let mut id_at;
    let target = loop {
        let (tid, end) = lookup.path_type(types, prev, path, i)?;
        i = end;
        prev = Some(tid);
        match path.get(i) {
            // A bare type ends the path: the target has no id.
            None => {
                id_at = None;
                break tid;
            }
            Some(b':') => i += 1,
            Some(_) => return None,
        }
        let id_start = i;
        i = skip(path, i, ID);
        if i == id_start {
            return None;
        }
        id_at = Some((id_start, i));
        // Only a prefix ending in a type that has scope nodes can be one.
        if lookup.scoped(tid) {
            let prefix = path.get(..i)?;
            *segments.get_mut(depth)? = Segment { prefix, hash: prefix_hash(prefix) };
            depth += 1;
        }
        match path.get(i) {
            None => break tid,
            Some(b'/') => i += 1,
            Some(_) => return None,
        }
    };
    Some((target, id_at, lookup.scope_chain(segments.get(..depth)?)))
}

/// The groups of a request with more than `FAST_GROUPS` group names (as identity providers
/// often give), for [`fast`]: sorted in a vector, their subjects added.
#[inline(never)]
fn many_groups<'a>(lookup: &'a Lookup, names: &[String], subjects: &mut Subjects<'a>) -> Groups {
    let mut found: SmallVec<[(GroupId, Rows<'a>); 8]> = names.iter().filter_map(|g| lookup.group(g)).collect();
    found.sort_unstable_by_key(|f| f.0);
    found.dedup_by_key(|f| f.0);
    for &(g, rows) in &found {
        add_subject(subjects, Who::Group(g), rows);
    }
    found.iter().map(|f| f.0).collect()
}

/// Whether every declared attribute given has its declared type. Most requests give no
/// principal or context attributes, or the policy declares none: that is answered here, inlined,
/// without a call (`verdict` at M -16 instructions). The policy's side is asked first: it is
/// in cache, while the request's map is a line of the host's request that nothing else may
/// need (when the policy declares no such attributes, the map is not read at all).
#[inline(always)]
pub(super) fn attrs_fit(given: &Map<String, Value>, declared: &BTreeMap<String, Ty>) -> bool {
    declared.is_empty() || given.is_empty() || given_fit(given, declared)
}

fn given_fit(given: &Map<String, Value>, declared: &BTreeMap<String, Ty>) -> bool {
    given.iter().all(|(name, v)| v.is_null() || declared.get(name).is_none_or(|ty| fits(v, ty)))
}

/// Resolves any request, naming every problem (design section 5.1).
pub(super) fn full<'a>(policy: &'a CompiledPolicy, req: &'a Request) -> Result<Resolved<'a>, Vec<RequestError>> {
    let mut errors = Vec::new();
    let (principal_id, groups, principal_attrs) = match &req.principal {
        Principal::Direct(p) => {
            let mut groups: Groups =
                p.groups.iter().filter_map(|g| policy.group_index.get(g.as_str()).copied()).collect();
            groups.sort_unstable();
            groups.dedup();
            (Cow::Borrowed(p.id.as_str()), groups, &p.attrs)
        }
        Principal::Identity(p) => match map_identity(policy, &p.identity, &p.claims) {
            Ok((id, groups)) => (Cow::Owned(id), Groups::from_vec(groups), &p.attrs),
            Err(e) => {
                errors.push(e);
                (Cow::Borrowed(""), Groups::new(), &p.attrs)
            }
        },
        Principal::Token(p) => {
            errors.push(crate::identity::unverified());
            (Cow::Borrowed(""), Groups::new(), &p.attrs)
        }
    };
    if errors.is_empty() && !principal_id_ok(&principal_id) {
        errors.push(invalid::principal_id(&principal_id));
    }

    let (target, mut segments, bare) = match read_path(policy, &req.resource.path, &mut errors) {
        Some((t, segments, bare)) => (Some(t), segments, bare),
        None => (None, PathSegments::new(), false),
    };

    let mut action = None;
    if let Some(t) = target {
        let ty = policy.types.get(t.idx());
        match policy.action_index.get(req.action.as_str()) {
            Some(a) if ty.is_some_and(|ty| ty.actions.contains(a)) => action = Some(*a),
            _ => errors.push(invalid::action(&req.action, ty.map_or("?", |t| t.name.as_str()))),
        }
    }

    let resource_decl = target.and_then(|t| policy.types.get(t.idx())).map_or(&NO_ATTRS, |t| &t.attrs);
    check_attrs("principal", principal_attrs, &policy.principal_attrs, &mut errors);
    check_attrs("resource", &req.resource.attrs, resource_decl, &mut errors);
    check_attrs("context", &req.context, &policy.context_attrs, &mut errors);

    match (target, action, target.zip(action).and_then(|(t, a)| policy.lookup.pair(t, a))) {
        (Some(_), Some(_), Some(pair)) if errors.is_empty() => Ok(Resolved {
            subjects: subjects_of(policy, &principal_id, &groups),
            principal_id,
            groups,
            nodes: walk(policy, &segments),
            resource_id: if bare { None } else { segments.pop().map(|(_, id)| id) },
            pair,
            attrs: Attrs {
                principal: principal_attrs,
                resource: &req.resource.attrs,
                context: &req.context,
                principal_decl: &policy.principal_attrs,
                resource_decl,
                context_decl: &policy.context_attrs,
            },
        }),
        _ => Err(errors),
    }
}

/// A path's whole segments, resolved to types.
pub(super) type PathSegments<'a> = SmallVec<[(TypeId, Cow<'a, str>); 8]>;

/// Reads a resource path: its target type, its whole segments and whether it ends in a bare
/// type; `None` (with the problem in `errors`) when it is malformed or leaves the type tree.
pub(super) fn read_path<'a>(
    policy: &CompiledPolicy,
    path: &'a str,
    errors: &mut Vec<RequestError>,
) -> Option<(TypeId, PathSegments<'a>, bool)> {
    let parts = match crate::path::parse(path) {
        Ok(parts) => parts,
        Err(e) => {
            errors.push(invalid::malformed_path(path, &e));
            return None;
        }
    };
    let mut segments = PathSegments::new();
    let mut prev = None;
    let mut bare = false;
    let steps = parts.segments.into_iter().map(|(t, id)| (t, Some(id))).chain(parts.bare.map(|b| (b, None)));
    for (ty, id) in steps {
        let Some(&tid) = policy.type_index.get(ty) else {
            errors.push(invalid::unknown_type(ty, path));
            return None;
        };
        let parent = policy.types.get(tid.idx()).and_then(|t| t.parent);
        if parent != prev {
            let parent_name = parent.map(|p| policy.types.get(p.idx()).map_or("?", |t| t.name.as_str()));
            errors.push(invalid::off_tree(path, ty, parent_name));
            return None;
        }
        prev = Some(tid);
        match id {
            Some(id) => segments.push((tid, id)),
            None => bare = true,
        }
    }
    Some((prev?, segments, bare))
}

/// The subjects of a principal id and its groups that hold some role.
pub(super) fn subjects_of<'a>(policy: &'a CompiledPolicy, principal_id: &str, groups: &[GroupId]) -> Subjects<'a> {
    let lookup = &policy.lookup;
    let mut subjects = Subjects::new();
    if let Some(&s) = policy.principal_subjects.get(principal_id) {
        add_subject(&mut subjects, Who::Principal, lookup.subject_rows(s));
    }
    for &g in groups {
        add_subject(&mut subjects, Who::Group(g), lookup.subject_rows(policy.group_subject(g)));
    }
    add_subject(&mut subjects, Who::Everyone, lookup.everyone_rows());
    subjects
}

/// The scope nodes of a path's segments: everywhere, then each prefix some assignment names.
pub(super) fn walk(policy: &CompiledPolicy, segments: &[(TypeId, Cow<'_, str>)]) -> Nodes {
    let mut nodes = Nodes::new();
    nodes.push(0);
    let mut node = 0;
    for (t, id) in segments {
        match policy.lookup.child(node, *t, id) {
            Some(child) => {
                node = child;
                nodes.push(child);
            }
            None => break,
        }
    }
    nodes
}

/// Maps verified claims through an `identity` block: the user claim names the principal,
/// each groups-claim value selects the groups whose alias for this identity it is.
fn map_identity(
    policy: &CompiledPolicy,
    identity: &str,
    claims: &Map<String, Value>,
) -> Result<(String, Vec<GroupId>), RequestError> {
    let Some(ident) = policy.identity_index.get(identity).and_then(|i| policy.identities.get(*i)) else {
        return Err(invalid::unknown_identity(identity));
    };
    let user_claim = ident.user_claim.as_deref().unwrap_or("sub");
    let user = match claim(claims, user_claim) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) => return Err(invalid::user_claim_empty(user_claim, &ident.name)),
        Some(_) => return Err(invalid::user_claim_not_string(user_claim, &ident.name)),
        None => return Err(invalid::user_claim_missing(user_claim)),
    };
    let mut groups = Vec::new();
    if let Some(gc) = &ident.groups_claim {
        match claim(claims, gc) {
            None | Some(Value::Null) => {}
            Some(Value::Array(values)) => {
                for v in values {
                    let Value::String(s) = v else {
                        return Err(invalid::groups_claim(gc));
                    };
                    if let Some(gs) = ident.aliases.get(s) {
                        groups.extend(gs.iter().copied());
                    }
                }
            }
            Some(_) => return Err(invalid::groups_claim(gc)),
        }
    }
    groups.sort_unstable();
    groups.dedup();
    Ok((format!("user:{user}"), groups))
}

/// A claim by name; a dotted name that is not a key itself walks nested objects
/// (`realm_access.roles`).
pub(crate) fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    let mut keys = claim_keys(claims, name);
    let mut cur = claims.get(keys.next()?)?;
    for k in keys {
        cur = cur.as_object()?.get(k)?;
    }
    Some(cur)
}

/// The keys that lead to the claim `name` ([`claim`]): the name itself when it is a key,
/// else its dotted parts.
pub(crate) fn claim_keys<'n>(claims: &Map<String, Value>, name: &'n str) -> impl Iterator<Item = &'n str> + use<'n> {
    let whole = claims.contains_key(name);
    let (mut first, mut parts) = (Some(name), name.split('.'));
    std::iter::from_fn(move || if whole { first.take() } else { parts.next() })
}

/// Checks that every declared attribute the request gives has its declared type (a JSON
/// `null` counts as not given; undeclared attributes are ignored).
pub(super) fn check_attrs(
    entity: &str,
    given: &Map<String, Value>,
    declared: &BTreeMap<String, Ty>,
    errors: &mut Vec<RequestError>,
) {
    if declared.is_empty() {
        return;
    }
    for (name, value) in given {
        let Some(ty) = declared.get(name) else { continue };
        if !value.is_null() && !fits(value, ty) {
            errors.push(invalid::attr_type(entity, name, &ty.to_string(), value));
        }
    }
}

/// Whether a JSON value has a type (an integer must fit in an `i64`).
fn fits(v: &Value, ty: &Ty) -> bool {
    match (ty, v) {
        (Ty::String, Value::String(_)) | (Ty::Bool, Value::Bool(_)) => true,
        (Ty::Int, Value::Number(n)) => n.as_i64().is_some(),
        (Ty::Set(elem), Value::Array(items)) => items.iter().all(|i| fits(i, elem)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"
resource org;
resource ws in org { actions read; }
resource doc in ws { actions read; }
role r { allow read on ws; allow read on doc; }
assign r to user:a on org:a/ws:x;
assign r to user:a on org:a/ws:"y z";
"#;

    /// What deciding reads of a resolved request.
    fn view(r: &Env<'_>) -> (String, Vec<crate::compile::NodeId>, Option<String>, u32) {
        (r.principal_id.to_string(), r.chain.nodes().to_vec(), r.resource_id.map(str::to_string), r.pair)
    }

    /// What `f` reads of a request the one-pass resolver resolves.
    fn fast_view<T>(c: &CompiledPolicy, req: &Request, f: impl Fn(&Env<'_>) -> T) -> Option<T> {
        let mut out = None;
        fast(c, req, &mut |env| out = Some(f(env)))?;
        out
    }

    /// A request's groups and its subjects (who, and how many assignments each holds).
    fn who(c: &CompiledPolicy, r: &Env<'_>) -> (Vec<GroupId>, Vec<String>) {
        let mut subjects = Vec::new();
        r.subjects
            .for_each(c.lookup.subject_records(), |w, rows, _| subjects.push(format!("{w:?}:{}", rows.len(&c.lookup))));
        (r.groups.to_vec(), subjects)
    }

    #[test]
    fn a_path_that_is_a_node_or_right_below_one_resolves_as_the_full_validator_has_it() {
        let src = format!(
            "{SRC}resource sub in doc {{ actions read; }}\nrole s {{ allow read on doc; allow read on sub; }}\n\
             assign s to user:b on org:a/ws:x/doc:d; assign s to user:b on org:c/ws:w;\n"
        );
        let policy = crate::compile_str("t.rbac", &src).policy.expect("compiles");
        let c = &policy.compiled;
        for (path, one_pass) in [
            ("org:a/ws:x", true),       // a node
            ("org:a/ws:x/doc:d", true), // a deeper node
            ("org:a/ws:x/doc:e", true), // right below a node
            ("org:a/ws:x/doc", true),   // a bare type below a node
            ("org:a/ws:x/doc:d/sub:s", true),
            ("org:a/ws:q/doc:e", true), // below a node's child: the scan
            ("org:z/ws:q/doc:e", true), // no node at all: the scan
            ("org:c/ws:w/doc:e.f-g", true),
            ("org:a/ws:x/ws:e", false),    // a type that cannot follow the node's
            ("org:a/ws:x/doc:e f", false), // an id that needs quotes
            ("org:a/ws:x/doc:", false),
            ("org:a/ws:x/", false),
            ("org:a/ws:x/doc:e/", false),
            ("org:a/ws:\"y z\"/doc:e", false), // quoted ids: the full validator
        ] {
            let req = Request::new("user:b", &[], "read", path);
            let full = full(c, &req);
            match fast_view(c, &req, view) {
                Some(fast) => {
                    assert!(one_pass, "{path} resolved in one pass");
                    assert_eq!(fast, view(&full.expect("valid").env()), "{path}");
                }
                None => assert!(!one_pass, "{path} left to the full validator"),
            }
        }
    }

    #[test]
    fn the_one_pass_groups_are_sorted_without_repeats_as_the_full_validator_has_them_however_many() {
        let src = format!(
            "{SRC}group g1; group g2; group g3; group g4; group g5;\n\
             assign r to group:g2 on org:a; assign r to group:g4 on org:a/ws:x; assign r to group:g5 on org:b;\n"
        );
        let policy = crate::compile_str("t.rbac", &src).policy.expect("compiles");
        let c = &policy.compiled;
        let lists: [&[&str]; 12] = [
            &[],
            &["g4", "g2"],
            &["g2", "g2", "g4"],
            &["g5", "g4", "g3", "g2"],
            &["unknown", "g4", "g1"],
            &["g4", "g4", "g4", "g4"],
            &["g1", "g2", "g3", "g4", "g5"],
            &["g5", "g4", "g3", "g2", "g1", "g5"],
            &["x", "y", "z", "w", "g2"],
            // `FAST_GROUPS` names, then one more.
            &["g5", "g1", "g4", "g2", "g3", "g5", "x", "g2"],
            &["g5", "g1", "g4", "g2", "g3", "g5", "x", "g2", "g1"],
            &["g5", "g1", "g4", "g2", "g3", "g5", "g4", "x", "g2", "g1", "y"],
        ];
        for groups in lists {
            let req = Request::new("user:a", groups, "read", "org:a/ws:x");
            let full = full(c, &req).expect("valid");
            let fast = fast_view(c, &req, |env| (view(env), who(c, env)))
                .unwrap_or_else(|| panic!("{groups:?}: left to the full validator"));
            let full = full.env();
            assert_eq!(fast, (view(&full), who(c, &full)), "{groups:?}");
        }
    }

    #[test]
    fn paths_deeper_than_the_one_pass_limit_are_left_to_the_full_validator() {
        // Types t0 > t1 > ... > t9, each with `read`; an assignment at every depth.
        let mut src = String::from("resource t0 { actions read; }\n");
        for d in 1..10 {
            src.push_str(&format!("resource t{d} in t{} {{ actions read; }}\n", d - 1));
        }
        src.push_str("role r { allow read on t9; allow read on t8; allow read on t7; }\n");
        let path = |depth: usize| (0..depth).map(|d| format!("t{d}:x")).collect::<Vec<_>>().join("/");
        for d in 1..=10 {
            src.push_str(&format!("assign r to user:a on {};\n", path(d)));
        }
        let policy = crate::compile_str("t.rbac", &src).policy.expect("compiles");
        let c = &policy.compiled;
        for depth in [FAST_SEGMENTS - 1, FAST_SEGMENTS, FAST_SEGMENTS + 1, FAST_SEGMENTS + 2] {
            let req = Request::new("user:a", &[], "read", &path(depth));
            let full = full(c, &req).expect("valid");
            assert_eq!(full.nodes.len(), depth + 1, "everywhere and every segment's node");
            match fast_view(c, &req, view) {
                Some(fast) => {
                    assert!(depth <= FAST_SEGMENTS, "{depth} segments resolved in one pass");
                    assert_eq!(fast, view(&full.env()), "{depth} segments");
                }
                None => assert!(depth > FAST_SEGMENTS, "{depth} segments left to the full validator"),
            }
        }
    }

    #[test]
    fn paths_longer_than_a_prefix_record_holds_are_left_to_the_full_validator() {
        // Nodes whose paths are just within and just beyond `FAST_PATH` bytes, asked about
        // themselves and a resource below them.
        let prefix = "t0:x/t1:";
        let mut src = String::from(
            "resource t0 { actions read; }\nresource t1 in t0 { actions read; }\n\
             resource t2 in t1 { actions read; }\nrole r { allow read on t1; allow read on t2; }\n",
        );
        let nodes: Vec<String> = [FAST_PATH - 5, FAST_PATH, FAST_PATH + 1]
            .iter()
            .map(|&len| format!("{prefix}{}", "a".repeat(len - prefix.len())))
            .collect();
        for p in &nodes {
            src.push_str(&format!("assign r to user:a on {p};\n"));
        }
        let policy = crate::compile_str("t.rbac", &src).policy.expect("compiles");
        let c = &policy.compiled;
        for path in nodes.iter().flat_map(|p| [p.clone(), format!("{p}/t2:y")]) {
            let len = path.len();
            let req = Request::new("user:a", &[], "read", &path);
            let full = full(c, &req).expect("valid");
            assert_eq!(full.nodes.len(), 3, "everywhere and the two nodes of the path");
            match fast_view(c, &req, view) {
                Some(fast) => {
                    assert!(len <= FAST_PATH, "a path of {len} bytes resolved in one pass");
                    assert_eq!(fast, view(&full.env()), "{len} bytes");
                }
                None => assert!(len > FAST_PATH, "a path of {len} bytes left to the full validator"),
            }
            assert!(policy.decide(&req).is_allow(), "{len} bytes");
        }
    }

    #[test]
    fn the_one_pass_path_resolves_as_the_full_validator_or_leaves_the_request_to_it() {
        let policy = crate::compile_str("t.rbac", SRC).policy.expect("compiles");
        let c = &policy.compiled;
        let plain = ["org:a/ws:x", "org:a/ws:x/doc:d", "org:a/ws:w", "org:b/ws:x/doc:a.b@c+d-e_f", "org:a/ws"];
        let other = [
            "",
            "org",
            ":a",
            "org:",
            "org:a/",
            "org:a//ws:x",
            "org:a:b/ws:x",
            "org:a/ws:x:y",
            "org/ws:x",
            "org:a/doc:d",
            "org:a/ws:x/doc",
            "org:a/wss:x",
            "or.g:a/ws:x",
            "org:a/ws:\"y z\"",
            "org:a/ws:y z",
            "org:é/ws:x",
            "org:a/ws:x/doc:d/doc:e",
        ];
        for path in plain.iter().chain(&other) {
            let req = Request::new("user:a", &[], "read", path);
            let full = full(c, &req);
            match fast_view(c, &req, view) {
                Some(fast) => {
                    let full = full.unwrap_or_else(|e| panic!("{path}: the full validator rejects it: {e:?}"));
                    assert_eq!(fast, view(&full.env()), "{path}");
                }
                None => assert!(!plain.contains(path), "{path}: left to the full validator"),
            }
        }
    }
}
