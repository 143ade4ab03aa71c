//! Type checking of `when` conditions (design section 4): every attribute read resolves with
//! one type on every type the rule applies to, every operator gets operands of its types.

use super::Checker;
use super::ir::{Cond, Ty, TypeId, Val};
use crate::diag::{Diagnostic, Span, did_you_mean};
use crate::syntax::ast::{CmpOp, Entity, Expr, ExprKind, Literal, Value};

pub(super) fn literal_val(l: &Literal) -> (Val, Ty) {
    match l {
        Literal::Str(s) => (Val::Str(s.clone()), Ty::String),
        Literal::Int(n) => (Val::Int(*n), Ty::Int),
        Literal::Bool(b) => (Val::Bool(*b), Ty::Bool),
    }
}

/// The value and type of a literal or list; a list mixing element types is `Err` with the
/// span of the first element that differs.
pub(super) fn value_val(v: &Value) -> Result<(Val, Ty), (Span, Ty, Ty)> {
    match v {
        Value::Lit(l, _) => Ok(literal_val(l)),
        Value::List(items, _) => {
            let mut elem = Ty::Unknown;
            let mut set = std::collections::BTreeSet::new();
            for (l, span) in items {
                let (val, ty) = literal_val(l);
                if elem == Ty::Unknown {
                    elem = ty;
                } else if elem != ty {
                    return Err((*span, elem, ty));
                }
                set.insert(val);
            }
            Ok((Val::Set(set), Ty::Set(Box::new(elem))))
        }
    }
}

fn mismatch(code: &'static str, message: String, span: Span, label: String) -> Diagnostic {
    Diagnostic::error(code, message, span, label)
}

impl Checker<'_, '_> {
    /// Checks a rule's `when`: it must be a `bool`.
    pub(super) fn check_cond(&mut self, e: &Expr, applies: &[TypeId]) -> Option<Cond> {
        let (c, ty) = self.typed(e, applies)?;
        if ty != Ty::Bool {
            self.diags.push(
                mismatch(
                    "E0308",
                    format!("a `when` condition must be a `bool`, found `{ty}`"),
                    e.span,
                    format!("this has type `{ty}`"),
                )
                .with_help("compare it with `==`, or test it with `has`"),
            );
            return None;
        }
        Some(c)
    }

    fn expect_bool(&mut self, e: &Expr, applies: &[TypeId], op: &str) -> Option<Cond> {
        let (c, ty) = self.typed(e, applies)?;
        if ty != Ty::Bool {
            self.diags.push(mismatch(
                "E0307",
                format!("`{op}` needs `bool` operands, found `{ty}`"),
                e.span,
                format!("this has type `{ty}`"),
            ));
            return None;
        }
        Some(c)
    }

    fn typed(&mut self, e: &Expr, applies: &[TypeId]) -> Option<(Cond, Ty)> {
        match &e.kind {
            ExprKind::Or(parts) | ExprKind::And(parts) => {
                let is_or = matches!(e.kind, ExprKind::Or(_));
                let op = if is_or { "||" } else { "&&" };
                let mut out = Vec::new();
                let mut ok = true;
                for p in parts {
                    match self.expect_bool(p, applies, op) {
                        Some(c) => out.push(c),
                        None => ok = false,
                    }
                }
                ok.then_some((if is_or { Cond::Or(out) } else { Cond::And(out) }, Ty::Bool))
            }
            ExprKind::Not(inner) => {
                let c = self.expect_bool(inner, applies, "!")?;
                Some((Cond::Not(Box::new(c)), Ty::Bool))
            }
            ExprKind::Value(v) => match value_val(v) {
                Ok((val, ty)) => Some((Cond::Lit(val), ty)),
                Err((span, first, other)) => {
                    self.diags.push(mismatch(
                        "E0312",
                        format!("a list mixes `{first}` and `{other}` elements"),
                        span,
                        format!("this has type `{other}`"),
                    ));
                    None
                }
            },
            ExprKind::Group(g) => {
                self.diags.push(
                    Diagnostic::error(
                        "E0310",
                        format!("`group:{}` may only stand after `principal in`", g.name),
                        e.span,
                        "not allowed here",
                    )
                    .with_help(format!("write `principal in group:{}`", g.name)),
                );
                None
            }
            ExprKind::Ref(entity, None) => {
                self.diags.push(
                    Diagnostic::error(
                        "E0316",
                        format!("`{}` is not a value", entity.as_str()),
                        e.span,
                        "an entity, not a value",
                    )
                    .with_help(match entity {
                        // Principals and resources have an id; "is the owner" compares ids.
                        Entity::Principal | Entity::Resource => format!(
                            "did you mean `{0}.id`? (or read another attribute, `{0}.x`, or test one with `{0} has x`)",
                            entity.as_str()
                        ),
                        Entity::Context => {
                            "read one of its attributes (`context.x`), or test one with `context has x`".to_string()
                        }
                    }),
                );
                None
            }
            ExprKind::Ref(entity, Some(attr)) => self.attr_read(*entity, attr, applies),
            ExprKind::Has(lhs, attr) => {
                let ExprKind::Ref(entity, None) = lhs.kind else {
                    self.diags.push(
                        Diagnostic::error(
                            "E0311",
                            "`has` needs `principal`, `resource` or `context` on its left",
                            lhs.span,
                            "not an entity",
                        )
                        .with_help("write for example `resource has owner`"),
                    );
                    return None;
                };
                self.has_attr(entity, attr, applies)?;
                Some((Cond::Has(entity, attr.name.to_string()), Ty::Bool))
            }
            ExprKind::Cmp(CmpOp::In, lhs, rhs) if matches!(rhs.kind, ExprKind::Group(_)) => {
                let ExprKind::Group(g) = &rhs.kind else { return None };
                let group = self.group_ref(g);
                if !matches!(lhs.kind, ExprKind::Ref(Entity::Principal, None)) {
                    self.diags.push(
                        Diagnostic::error(
                            "E0310",
                            "only `principal` can be tested for group membership",
                            lhs.span,
                            "not `principal`",
                        )
                        .with_help(format!("write `principal in group:{}`", g.name)),
                    );
                    return None;
                }
                Some((Cond::InGroup(group?), Ty::Bool))
            }
            ExprKind::Cmp(op, lhs, rhs) => {
                let l = self.typed(lhs, applies);
                let r = self.typed(rhs, applies);
                let ((lc, lt), (rc, rt)) = (l?, r?);
                let ok = match op {
                    CmpOp::Eq | CmpOp::Ne => {
                        if !lt.fits(&rt) {
                            self.diags.push(
                                mismatch(
                                    "E0304",
                                    format!("`{}` compares `{lt}` with `{rt}`", op.as_str()),
                                    e.span,
                                    "the two sides have different types".to_string(),
                                )
                                .with_label(lhs.span, format!("this has type `{lt}`"))
                                .with_label(rhs.span, format!("this has type `{rt}`"))
                                .with_help("both sides of `==` and `!=` must have the same type"),
                            );
                            false
                        } else {
                            self.never_an_id(*op, lhs, rhs);
                            true
                        }
                    }
                    CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => {
                        let bad = [(&lt, lhs.span), (&rt, rhs.span)].into_iter().find(|(t, _)| **t != Ty::Int);
                        if let Some((t, span)) = bad {
                            self.diags.push(mismatch(
                                "E0305",
                                format!("`{}` needs `int` operands, found `{t}`", op.as_str()),
                                span,
                                format!("this has type `{t}`"),
                            ));
                            false
                        } else {
                            true
                        }
                    }
                    CmpOp::In => match &rt {
                        Ty::Set(elem) if lt.fits(elem) => {
                            self.never_in_ids(lhs, rhs);
                            true
                        }
                        _ => {
                            self.diags.push(
                                mismatch(
                                    "E0306",
                                    format!("`in` needs an element and a set of its type, found `{lt}` and `{rt}`"),
                                    e.span,
                                    "not an element and a set of its type".to_string(),
                                )
                                .with_label(lhs.span, format!("this has type `{lt}`"))
                                .with_label(rhs.span, format!("this has type `{rt}`"))
                                .with_help_opt(
                                    matches!(&lt, Ty::Set(elem) if rt.fits(elem))
                                        .then(|| "the element comes first: `ELEMENT in SET`".to_string()),
                                ),
                            );
                            false
                        }
                    },
                };
                ok.then(|| (Cond::Cmp(*op, Box::new(lc), Box::new(rc)), Ty::Bool))
            }
        }
    }

    /// W0008: `principal.id` compared with a string that no principal id can be (ids start
    /// with `user:` or `service:`): `==` never holds, `!=` always does.
    fn never_an_id(&mut self, op: CmpOp, lhs: &Expr, rhs: &Expr) {
        let is_id = |e: &Expr| matches!(&e.kind, ExprKind::Ref(Entity::Principal, Some(a)) if a.name == "id");
        let text = |e: &Expr| match &e.kind {
            ExprKind::Value(Value::Lit(Literal::Str(s), span)) => Some((s.clone(), *span)),
            _ => None,
        };
        let literal = if is_id(lhs) {
            text(rhs)
        } else if is_id(rhs) {
            text(lhs)
        } else {
            None
        };
        let Some((id, span)) = literal else { return };
        let always = if op == CmpOp::Eq { "never holds" } else { "always holds" };
        self.not_an_id(&id, span, &format!("this comparison {always}"));
    }

    /// W0008 for each element of `principal.id in [...]` that no principal id can be (the
    /// element never matches).
    fn never_in_ids(&mut self, lhs: &Expr, rhs: &Expr) {
        if !matches!(&lhs.kind, ExprKind::Ref(Entity::Principal, Some(a)) if a.name == "id") {
            return;
        }
        let ExprKind::Value(Value::List(items, _)) = &rhs.kind else { return };
        for (item, span) in items {
            if let Literal::Str(id) = item {
                self.not_an_id(id, *span, "this element never matches");
            }
        }
    }

    /// W0008 at `span` for the string `id` when no principal id can be it, the message starting
    /// with `what`, with a help saying what was likely meant.
    fn not_an_id(&mut self, id: &str, span: Span, what: &str) {
        if crate::eval::principal_id_ok(id) {
            return;
        }
        // What was likely meant: a group's membership, a prefix in other case, the user.
        let lower = id.to_ascii_lowercase();
        let help = if let Some(group) = id.strip_prefix("group:").filter(|g| !g.is_empty()) {
            Some(format!("a group is tested with `principal in group:{group}`"))
        } else if let Some(kind) = ["user:", "service:"].into_iter().find(|k| lower.starts_with(k)) {
            let rest = id.get(kind.len()..).unwrap_or("");
            (!rest.is_empty()).then(|| format!("did you mean `\"{kind}{rest}\"`? (the prefix is lower-case)"))
        } else {
            (!id.is_empty()).then(|| format!("did you mean `\"user:{id}\"`?"))
        };
        self.diags.push(
            Diagnostic::warning(
                "W0008",
                format!("{what}: principal ids start with `user:` or `service:`"),
                span,
                "no principal has this id",
            )
            .with_help_opt(help),
        );
    }

    fn unknown_attr(
        &mut self,
        entity: Entity,
        attr: &crate::syntax::ast::Ident,
        candidates: Vec<String>,
        where_: String,
    ) {
        let help = did_you_mean(&attr.name, candidates.iter().map(String::as_str));
        self.diags.push(
            Diagnostic::error(
                "E0206",
                format!("unknown attribute `{}.{}`", entity.as_str(), attr.name),
                attr.span,
                format!("not declared on {where_}"),
            )
            .with_help_opt(help.or_else(|| {
                Some(
                    if entity == Entity::Principal && ["groups", "group", "roles", "role"].contains(&attr.name.as_str())
                    {
                        // A declared attribute is filled from the request's attributes, not its groups.
                        "group membership is written `principal in group:NAME`".to_string()
                    } else {
                        format!("declare it in the `attributes` of {where_}")
                    },
                )
            })),
        );
    }

    fn applies_names(&self, applies: &[TypeId]) -> String {
        applies.iter().map(|t| format!("`{}`", self.ir.type_name(*t))).collect::<Vec<_>>().join(", ")
    }

    fn attr_read(
        &mut self,
        entity: Entity,
        attr: &crate::syntax::ast::Ident,
        applies: &[TypeId],
    ) -> Option<(Cond, Ty)> {
        match entity {
            Entity::Principal if attr.name == "id" => Some((Cond::PrincipalId, Ty::String)),
            Entity::Resource if attr.name == "id" => Some((Cond::ResourceId, Ty::String)),
            Entity::Principal | Entity::Context => {
                let map = if entity == Entity::Principal { &self.ir.principal_attrs } else { &self.ir.context_attrs };
                match map.get(attr.name.as_str()) {
                    Some(t) => Some((Cond::Attr(entity, attr.name.to_string()), t.clone())),
                    None => {
                        let cands = map.keys().cloned().collect();
                        self.unknown_attr(entity, attr, cands, format!("`{}`", entity.as_str()));
                        None
                    }
                }
            }
            Entity::Resource => {
                let found: Vec<(TypeId, Option<Ty>)> = applies
                    .iter()
                    .map(|t| (*t, self.ir.types.get(t.idx()).and_then(|ti| ti.attrs.get(attr.name.as_str()).cloned())))
                    .collect();
                if found.iter().all(|(_, t)| t.is_none()) {
                    let mut cands: Vec<String> = applies
                        .iter()
                        .filter_map(|t| self.ir.types.get(t.idx()))
                        .flat_map(|t| t.attrs.keys().cloned())
                        .collect();
                    cands.sort();
                    cands.dedup();
                    let names = self.applies_names(applies);
                    self.unknown_attr(entity, attr, cands, names);
                    return None;
                }
                if let Some((t, _)) = found.iter().find(|(_, ty)| ty.is_none()) {
                    self.diags.push(
                        Diagnostic::error(
                            "E0309",
                            format!("attribute `resource.{}` is not declared on `{}`", attr.name, self.ir.type_name(*t)),
                            attr.span,
                            format!("read here for every type the rule applies to: {}", self.applies_names(applies)),
                        )
                        .with_label(self.type_span(*t), format!("`{}` declared here without `{}`", self.ir.type_name(*t), attr.name))
                        .with_help(format!(
                            "declare `{}` on `{}`, narrow the rule's types, or guard the read with `resource has {}` in a separate rule",
                            attr.name,
                            self.ir.type_name(*t),
                            attr.name
                        )),
                    );
                    return None;
                }
                let tys: Vec<&Ty> = found.iter().filter_map(|(_, t)| t.as_ref()).collect();
                let first = tys.first().map(|t| (*t).clone())?;
                if let Some(other) = tys.iter().find(|t| ***t != first) {
                    self.diags.push(Diagnostic::error(
                        "E0309",
                        format!(
                            "attribute `resource.{}` has different types on the rule's types: `{first}` and `{other}`",
                            attr.name
                        ),
                        attr.span,
                        format!("read here for {}", self.applies_names(applies)),
                    ));
                    return None;
                }
                Some((Cond::Attr(Entity::Resource, attr.name.to_string()), first))
            }
        }
    }

    fn has_attr(&mut self, entity: Entity, attr: &crate::syntax::ast::Ident, applies: &[TypeId]) -> Option<()> {
        if attr.name == "id" && entity != Entity::Context {
            return Some(());
        }
        let declared = match entity {
            Entity::Principal => self.ir.principal_attrs.contains_key(attr.name.as_str()),
            Entity::Context => self.ir.context_attrs.contains_key(attr.name.as_str()),
            Entity::Resource => applies
                .iter()
                .any(|t| self.ir.types.get(t.idx()).is_some_and(|ti| ti.attrs.contains_key(attr.name.as_str()))),
        };
        if declared {
            return Some(());
        }
        let (cands, where_) = match entity {
            Entity::Principal => (self.ir.principal_attrs.keys().cloned().collect(), "`principal`".to_string()),
            Entity::Context => (self.ir.context_attrs.keys().cloned().collect(), "`context`".to_string()),
            Entity::Resource => (
                applies
                    .iter()
                    .filter_map(|t| self.ir.types.get(t.idx()))
                    .flat_map(|t| t.attrs.keys().cloned())
                    .collect(),
                self.applies_names(applies),
            ),
        };
        self.unknown_attr(entity, attr, cands, where_);
        None
    }
}
