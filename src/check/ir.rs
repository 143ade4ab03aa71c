//! The typed intermediate representation: every name resolved to an id, every action list
//! expanded, every condition typed. Entities live in arenas addressed by typed ids; spans
//! stay here and never reach the compiled policy.

use crate::diag::Span;
use crate::syntax::ast::{CmpOp, Effect, Entity};
use compact_str::CompactString;
use smallvec::SmallVec;
use std::collections::{BTreeMap, BTreeSet};

macro_rules! id_type {
    ($($name:ident),*) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub struct $name(pub u32);
        impl $name {
            pub fn idx(self) -> usize { self.0 as usize }
            pub fn from_idx(i: usize) -> Self { $name(u32::try_from(i).unwrap_or(u32::MAX)) }
        }
    )*};
}
id_type!(TypeId, ActionId, RoleId, GroupId, IdentityId);

/// The type of an attribute or a condition expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Ty {
    String,
    Int,
    Bool,
    Set(Box<Ty>),
    /// The element type of `[]`: fits any set.
    Unknown,
}

impl Ty {
    /// Whether a value of type `self` may stand where `other` is expected (`[]` fits any set).
    pub fn fits(&self, other: &Ty) -> bool {
        match (self, other) {
            (Ty::Unknown, _) | (_, Ty::Unknown) => true,
            (Ty::Set(a), Ty::Set(b)) => a.fits(b),
            (a, b) => a == b,
        }
    }
}

impl std::fmt::Display for Ty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ty::String => f.write_str("string"),
            Ty::Int => f.write_str("int"),
            Ty::Bool => f.write_str("bool"),
            Ty::Set(t) if **t == Ty::Unknown => f.write_str("set"),
            Ty::Set(t) => write!(f, "set<{t}>"),
            Ty::Unknown => f.write_str("any"),
        }
    }
}

/// A constant value in a condition or a request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Val {
    Str(String),
    Int(i64),
    Bool(bool),
    Set(BTreeSet<Val>),
}

/// A type-checked condition.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Cond {
    Lit(Val),
    /// `principal.x`, `resource.x`, `context.x` for a declared attribute `x`.
    Attr(Entity, String),
    PrincipalId,
    /// Missing for a bare-type target.
    ResourceId,
    /// `E has x`: never fails.
    Has(Entity, String),
    /// `principal in group:g`.
    InGroup(GroupId),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    /// Comparison; `In` is element-in-set.
    Cmp(CmpOp, Box<Cond>, Box<Cond>),
}

/// Reading types, conditions and values back (bundles): they are recursive, and the bytes of a
/// bundle are not trusted to nest them as the grammar does (E0104 stops at 200 levels), so
/// reading counts the levels and refuses more than [`MAX_READ_DEPTH`] rather than run out of
/// stack. The readers are the derived ones of mirror enums with the same variants in the
/// same order, so the encoding is the one `Serialize` writes.
pub const MAX_READ_DEPTH: usize = 256;

mod read {
    use super::{Cond, Ty, Val};
    use crate::syntax::ast::{CmpOp, Entity};
    use serde::{Deserialize, Deserializer, de::Error};
    use std::cell::Cell;
    use std::collections::BTreeSet;

    thread_local! {
        static DEPTH: Cell<usize> = const { Cell::new(0) };
    }

    /// One level of nesting while it lives.
    struct Level;

    impl Level {
        fn enter<E: Error>() -> Result<Level, E> {
            let depth = DEPTH.with(|d| {
                d.set(d.get() + 1);
                d.get()
            });
            let level = Level;
            if depth > super::MAX_READ_DEPTH {
                return Err(E::custom(format!("conditions or values nested over {} levels", super::MAX_READ_DEPTH)));
            }
            Ok(level)
        }
    }

    impl Drop for Level {
        fn drop(&mut self) {
            DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
        }
    }

    #[derive(Deserialize)]
    #[serde(rename = "Ty")]
    enum TyRead {
        String,
        Int,
        Bool,
        Set(Box<Ty>),
        Unknown,
    }

    impl<'de> Deserialize<'de> for Ty {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ty, D::Error> {
            let _level = Level::enter()?;
            Ok(match TyRead::deserialize(d)? {
                TyRead::String => Ty::String,
                TyRead::Int => Ty::Int,
                TyRead::Bool => Ty::Bool,
                TyRead::Set(t) => Ty::Set(t),
                TyRead::Unknown => Ty::Unknown,
            })
        }
    }

    #[derive(Deserialize)]
    #[serde(rename = "Val")]
    enum ValRead {
        Str(String),
        Int(i64),
        Bool(bool),
        Set(BTreeSet<Val>),
    }

    impl<'de> Deserialize<'de> for Val {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Val, D::Error> {
            let _level = Level::enter()?;
            Ok(match ValRead::deserialize(d)? {
                ValRead::Str(s) => Val::Str(s),
                ValRead::Int(i) => Val::Int(i),
                ValRead::Bool(b) => Val::Bool(b),
                ValRead::Set(s) => Val::Set(s),
            })
        }
    }

    #[derive(Deserialize)]
    #[serde(rename = "Cond")]
    enum CondRead {
        Lit(Val),
        Attr(Entity, String),
        PrincipalId,
        ResourceId,
        Has(Entity, String),
        InGroup(super::GroupId),
        Not(Box<Cond>),
        And(Vec<Cond>),
        Or(Vec<Cond>),
        Cmp(CmpOp, Box<Cond>, Box<Cond>),
    }

    impl<'de> Deserialize<'de> for Cond {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cond, D::Error> {
            let _level = Level::enter()?;
            Ok(match CondRead::deserialize(d)? {
                CondRead::Lit(v) => Cond::Lit(v),
                CondRead::Attr(e, n) => Cond::Attr(e, n),
                CondRead::PrincipalId => Cond::PrincipalId,
                CondRead::ResourceId => Cond::ResourceId,
                CondRead::Has(e, n) => Cond::Has(e, n),
                CondRead::InGroup(g) => Cond::InGroup(g),
                CondRead::Not(x) => Cond::Not(x),
                CondRead::And(xs) => Cond::And(xs),
                CondRead::Or(xs) => Cond::Or(xs),
                CondRead::Cmp(op, a, b) => Cond::Cmp(op, a, b),
            })
        }
    }
}

#[derive(Debug, Clone)]
pub struct TypeInfo {
    pub name: String,
    pub parent: Option<TypeId>,
    pub actions: BTreeSet<ActionId>,
    pub attrs: BTreeMap<String, Ty>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct RuleInfo {
    pub effect: Effect,
    /// Expanded (type, action) pairs that exist; sorted, without repeats.
    pub pairs: Vec<(TypeId, ActionId)>,
    pub cond: Option<Cond>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct RoleInfo {
    pub name: String,
    pub parents: Vec<RoleId>,
    pub rules: Vec<RuleInfo>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct GroupInfo {
    pub name: String,
    pub aliases: Vec<(IdentityId, String)>,
    pub span: Span,
}

#[derive(Debug, Clone, Default)]
pub struct IdentityInfo {
    pub name: String,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub user_claim: Option<String>,
    pub groups_claim: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubjectRef {
    /// `user:ID` or `service:ID`, whole.
    Principal(CompactString),
    Group(GroupId),
    Everyone,
}

/// A scope: whole `type:id` segments from a root type; empty means everywhere. Up to three
/// segments inline, as most assignments' are.
pub type ScopePath = SmallVec<[(TypeId, CompactString); 3]>;

/// One `assign` statement, resolved. Its lists are inline for the common sizes: a large
/// policy has millions of them, and a heap block each cost more to allocate and free than
/// to decide with.
#[derive(Debug, Clone)]
pub struct AssignInfo {
    pub roles: SmallVec<[RoleId; 2]>,
    pub subjects: SmallVec<[SubjectRef; 1]>,
    pub scope: ScopePath,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct ExpectInfo {
    pub effect: Effect,
    pub request: crate::Request,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct TestInfo {
    pub name: String,
    pub expects: Vec<ExpectInfo>,
    pub span: Span,
}

/// The checked policy.
#[derive(Debug, Clone, Default)]
pub struct Ir {
    pub types: Vec<TypeInfo>,
    pub actions: Vec<String>,
    pub principal_attrs: BTreeMap<String, Ty>,
    pub context_attrs: BTreeMap<String, Ty>,
    pub groups: Vec<GroupInfo>,
    pub identities: Vec<IdentityInfo>,
    pub roles: Vec<RoleInfo>,
    pub assignments: Vec<AssignInfo>,
    pub exclusive: Vec<Vec<RoleId>>,
    pub tests: Vec<TestInfo>,
}

impl Ir {
    pub fn type_name(&self, t: TypeId) -> &str {
        self.types.get(t.idx()).map_or("?", |t| t.name.as_str())
    }

    pub fn action_name(&self, a: ActionId) -> &str {
        self.actions.get(a.idx()).map_or("?", String::as_str)
    }

    pub fn role_name(&self, r: RoleId) -> &str {
        self.roles.get(r.idx()).map_or("?", |r| r.name.as_str())
    }

    pub fn group_name(&self, g: GroupId) -> &str {
        self.groups.get(g.idx()).map_or("?", |g| g.name.as_str())
    }
}
