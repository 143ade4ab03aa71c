//! The abstract syntax tree of a `.rbac` file, with a source span on every node the checker
//! may point at. Built by `syntax::parse`, read by `check`.

use crate::diag::Span;
use compact_str::CompactString;

/// A name written in the source, with where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    /// Inline up to 24 bytes: a large policy's millions of names allocate nothing.
    pub name: CompactString,
    pub span: Span,
}

/// An action, action set or type name in a list; `*` is spelt `"*"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    pub text: String,
    pub span: Span,
}

impl Name {
    pub fn is_star(&self) -> bool {
        self.text == "*"
    }
}

#[derive(Debug, Clone)]
pub enum Item {
    Use(Use),
    ActionSet(ActionSet),
    Resource(Resource),
    Attrs(AttrsBlock),
    Group(Group),
    Identity(Identity),
    Role(Role),
    Assign(Assign),
    Exclusive(Exclusive),
    Test(Test),
}

#[derive(Debug, Clone)]
pub enum UseTarget {
    /// `use std::crud;`
    Module(Vec<Ident>),
    /// `use "relative/file.rbac";`
    File(String),
}

#[derive(Debug, Clone)]
pub struct Use {
    pub target: UseTarget,
    /// The module path or the quoted file name.
    pub target_span: Span,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct ActionSet {
    pub name: Ident,
    pub members: Vec<Name>,
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub name: Ident,
    pub parent: Option<Ident>,
    pub actions: Vec<Name>,
    pub attrs: Vec<Attr>,
}

/// Whose attribute: the principal's, the resource's or the request context's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Entity {
    /// The principal's attributes (`principal.NAME`).
    Principal,
    /// The resource's attributes (`resource.NAME`).
    Resource,
    /// The request context's attributes (`context.NAME`).
    Context,
}

impl Entity {
    /// `principal`, `resource` or `context`; `None` for any other word.
    pub fn parse(word: &str) -> Option<Entity> {
        match word {
            "principal" => Some(Entity::Principal),
            "resource" => Some(Entity::Resource),
            "context" => Some(Entity::Context),
            _ => None,
        }
    }

    /// The word for the entity, as conditions and requests spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Principal => "principal",
            Entity::Resource => "resource",
            Entity::Context => "context",
        }
    }
}

#[derive(Debug, Clone)]
pub struct AttrsBlock {
    pub entity: Entity,
    pub attrs: Vec<Attr>,
}

#[derive(Debug, Clone)]
pub struct Attr {
    pub name: Ident,
    pub ty: TypeExpr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TypeExpr {
    String,
    Int,
    Bool,
    Set(Box<TypeExpr>),
}

#[derive(Debug, Clone)]
pub struct Group {
    pub name: Ident,
    pub aliases: Vec<Alias>,
}

/// `okta "ML Platform Engineers"` in `group g from okta "ML Platform Engineers"`.
#[derive(Debug, Clone)]
pub struct Alias {
    pub identity: Ident,
    pub value: String,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Identity {
    pub name: Ident,
    pub members: Vec<IdMember>,
}

#[derive(Debug, Clone)]
pub enum IdMemberKind {
    Issuer,
    Audience,
    UserClaim,
    GroupsClaim,
}

#[derive(Debug, Clone)]
pub struct IdMember {
    pub kind: IdMemberKind,
    pub value: String,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Role {
    pub name: Ident,
    pub parents: Vec<Ident>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
/// What a rule or a decision says: allow or deny (`"allow"`, `"deny"` in JSON).
pub enum Effect {
    /// The action is allowed.
    Allow,
    /// The action is denied.
    Deny,
}

impl Effect {
    /// `allow` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub effect: Effect,
    pub actions: Vec<Name>,
    pub types: Vec<Name>,
    pub cond: Option<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Assign {
    pub roles: Vec<Ident>,
    pub subjects: Vec<Subject>,
    pub scope: Option<Path>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum SubjectKind {
    /// `user:ID` or `service:ID`, kept whole with its prefix.
    Principal(CompactString),
    Group(Ident),
    Everyone,
}

#[derive(Debug, Clone)]
pub struct Subject {
    pub kind: SubjectKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Segment {
    pub ty: Ident,
    pub id: CompactString,
    pub span: Span,
}

/// A resource path: whole `type:id` segments, optionally ending in a bare type.
#[derive(Debug, Clone)]
pub struct Path {
    pub segments: Vec<Segment>,
    pub bare: Option<Ident>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Exclusive {
    pub roles: Vec<Ident>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Test {
    pub name: String,
    pub expects: Vec<Expect>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Expect {
    pub effect: Effect,
    /// `user:ID` or `service:ID`.
    pub principal: String,
    pub principal_span: Span,
    pub groups: Vec<Ident>,
    pub action: Ident,
    pub path: Path,
    pub with: Vec<Kv>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Kv {
    pub entity: Entity,
    pub attr: Ident,
    pub value: Value,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Int(i64),
    Bool(bool),
}

#[derive(Debug, Clone)]
pub enum Value {
    Lit(Literal, Span),
    List(Vec<(Literal, Span)>, Span),
}

impl Value {
    pub fn span(&self) -> Span {
        match self {
            Value::Lit(_, s) | Value::List(_, s) => *s,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::In => "in",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum ExprKind {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    Has(Box<Expr>, Ident),
    Not(Box<Expr>),
    /// `principal`, `resource.owner`, `context.mfa`.
    Ref(Entity, Option<Ident>),
    Value(Value),
    /// `group:g`, only meaningful on the right of `principal in`.
    Group(Ident),
}

/// One parsed file.
#[derive(Debug, Clone, Default)]
pub struct File {
    pub items: Vec<Item>,
}
