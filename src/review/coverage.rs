//! Test coverage: which rules, assignments and `exclusive` sets decided some expectation of
//! the policy's own `test` blocks (`rbac test --coverage`). A rule counts when it was a reason
//! of an expectation's decision: an allow rule that allowed, a deny rule that denied. A rule
//! whose condition was false, or that a deny overrode, did not decide anything there.

use super::AccessIndex;
use crate::Policy;
use crate::syntax::ast::Effect;
use serde::Serialize;
use std::collections::BTreeMap;

/// What the expectations of a policy's `test` blocks exercise ([`Policy::coverage`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// The expectations run.
    pub expectations: usize,
    /// Every rule of every role, in source order.
    pub rules: Vec<RuleCoverage>,
    /// Every role assignment (one role to one subject at one scope), by subject, scope and role.
    pub assignments: Vec<AssignmentCoverage>,
    /// Every `exclusive` set, in declaration order.
    pub exclusive: Vec<ExclusiveCoverage>,
}

/// A rule and how many expectations it decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleCoverage {
    /// The role that declares it.
    pub role: String,
    /// Allow or deny.
    pub effect: Effect,
    /// `file:line:col` of the rule.
    pub at: String,
    /// Expectations whose decision it was a reason of.
    pub decided: usize,
}

/// A role assignment and how many expectations were decided through it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssignmentCoverage {
    /// The role assigned.
    pub role: String,
    /// `everyone`, `group:NAME` or the principal id.
    pub subject: String,
    /// The scope path; `None` for everywhere.
    pub scope: Option<String>,
    /// Expectations decided by a rule this assignment brought in.
    pub decided: usize,
}

/// An `exclusive` set and how many expectations it denied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExclusiveCoverage {
    /// Its roles, sorted by name.
    pub roles: Vec<String>,
    /// Expectations it denied (two or more of its roles held together).
    pub decided: usize,
}

impl Coverage {
    /// The rules that decided no expectation.
    pub fn rules_missed(&self) -> impl Iterator<Item = &RuleCoverage> {
        self.rules.iter().filter(|r| r.decided == 0)
    }

    /// The assignments through which no expectation was decided.
    pub fn assignments_missed(&self) -> impl Iterator<Item = &AssignmentCoverage> {
        self.assignments.iter().filter(|a| a.decided == 0)
    }

    /// The `exclusive` sets that denied no expectation.
    pub fn exclusive_missed(&self) -> impl Iterator<Item = &ExclusiveCoverage> {
        self.exclusive.iter().filter(|e| e.decided == 0)
    }
}

pub(crate) fn coverage(policy: &Policy) -> Coverage {
    let c = policy.compiled();
    let mut rule_hits = vec![0usize; c.rules.len()];
    let mut grant_hits: BTreeMap<(u32, u32, u32), usize> = BTreeMap::new();
    let mut set_hits = vec![0usize; c.exclusive_sets.len()];
    let sorted_names = |set: &[crate::check::ir::RoleId]| {
        let mut names: Vec<String> = set.iter().filter_map(|r| c.role_names.get(r.idx()).cloned()).collect();
        names.sort();
        names
    };
    let sets: Vec<Vec<String>> = c.exclusive_sets.iter().map(|s| sorted_names(s)).collect();
    let mut expectations = 0;
    for expectation in policy.tests().iter().flat_map(|t| &t.expects) {
        expectations += 1;
        let verdict = policy.verdict(&expectation.request);
        let (hits, exclusive) = verdict.deciding();
        // Each rule and assignment counts once an expectation, however many reasons name it.
        let mut rules: Vec<u32> = hits.iter().map(|h| h.0).collect();
        rules.sort_unstable();
        rules.dedup();
        for r in rules {
            if let Some(n) = rule_hits.get_mut(r as usize) {
                *n += 1;
            }
        }
        let mut grants: Vec<(u32, u32, u32)> =
            hits.iter().filter_map(|&(_, subject, node, role)| Some((subject?, node, role.0))).collect();
        grants.sort_unstable();
        grants.dedup();
        for g in grants {
            *grant_hits.entry(g).or_default() += 1;
        }
        if let Some(roles) = exclusive {
            for (set, n) in sets.iter().zip(&mut set_hits) {
                // A set denied when two or more of its roles are among those that clashed.
                if set.iter().filter(|r| roles.contains(r)).count() >= 2 {
                    *n += 1;
                }
            }
        }
    }

    let mut order: Vec<usize> = (0..c.rules.len()).collect();
    order.sort_by_key(|&i| c.rules.get(i).map(|r| r.at_key));
    let rules = order
        .into_iter()
        .filter_map(|i| {
            let rule = c.rules.get(i)?;
            Some(RuleCoverage {
                role: c.role_names.get(rule.role.idx())?.clone(),
                effect: rule.effect,
                at: rule.at.clone(),
                decided: rule_hits.get(i).copied().unwrap_or(0),
            })
        })
        .collect();

    let index = AccessIndex::new(c);
    let mut assignments: Vec<AssignmentCoverage> = c
        .grants
        .iter()
        .flat_map(|(&(subject, node), roles)| {
            let grant_hits = &grant_hits;
            let index = &index;
            roles.iter().map(move |role| AssignmentCoverage {
                role: c.role_names.get(role.idx()).cloned().unwrap_or_default(),
                subject: index.subject_name(subject),
                scope: index.scope(node),
                decided: grant_hits.get(&(subject, node, role.0)).copied().unwrap_or(0),
            })
        })
        .collect();
    assignments.sort_by(|a, b| (&a.subject, &a.scope, &a.role).cmp(&(&b.subject, &b.scope, &b.role)));

    let exclusive =
        sets.into_iter().zip(set_hits).map(|(roles, decided)| ExclusiveCoverage { roles, decided }).collect();
    Coverage { expectations, rules, assignments, exclusive }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coverage_of(src: &str) -> Coverage {
        crate::compile_str("t.rbac", src).policy.expect("compiles").coverage()
    }

    /// (role, effect, times decided) of each rule, in source order.
    fn rules(c: &Coverage) -> Vec<(&str, &str, usize)> {
        c.rules.iter().map(|r| (r.role.as_str(), r.effect.as_str(), r.decided)).collect()
    }

    /// (role, subject, scope, times decided) of each assignment.
    fn assignments(c: &Coverage) -> Vec<(&str, &str, Option<&str>, usize)> {
        c.assignments.iter().map(|a| (a.role.as_str(), a.subject.as_str(), a.scope.as_deref(), a.decided)).collect()
    }

    const TYPES: &str = "resource w; resource p in w { actions read, run; attributes { owner: string } }\n";

    #[test]
    fn a_rule_counts_where_it_decided_an_expectation_not_where_it_only_applied() {
        let c = coverage_of(&format!(
            "{TYPES}role viewer {{ allow read on p; }}\n\
             role runner extends viewer {{ allow run on p when resource.owner == principal.id; deny run on p when resource.owner == \"user:x\"; }}\n\
             role other {{ allow read on p; }}\n\
             assign runner to user:a on w:1;\n\
             test \"t\" {{\n\
               expect allow user:a read w:1/p:q;\n\
               expect allow user:a read w:1/p:r;\n\
               expect deny user:a run w:1/p:q with {{ resource.owner: \"user:b\" }};\n\
               expect deny user:a run w:1/p:q with {{ resource.owner: \"user:x\" }};\n\
               expect deny user:b read w:1/p:q;\n\
             }}\n"
        ));
        assert_eq!(c.expectations, 5);
        // The inherited rule decided twice (counted for the role declaring it); the owner rule
        // never (its condition was false once, a deny overrode it once); the deny once.
        assert_eq!(
            rules(&c),
            [("viewer", "allow", 2), ("runner", "allow", 0), ("runner", "deny", 1), ("other", "allow", 0)]
        );
        assert_eq!(assignments(&c), [("runner", "user:a", Some("w:1"), 3)]);
        assert_eq!(c.rules_missed().count(), 2);
        assert_eq!(c.assignments_missed().count(), 0);
    }

    #[test]
    fn an_expectation_counts_once_for_a_rule_that_several_assignments_bring_in() {
        let c = coverage_of(&format!(
            "{TYPES}group g; role viewer {{ allow read on p; }}\n\
             assign viewer to user:a on w:1; assign viewer to group:g; assign viewer to everyone on w:2;\n\
             test \"t\" {{ expect allow user:a groups [g] read w:1/p:q; }}\n"
        ));
        assert_eq!(rules(&c), [("viewer", "allow", 1)]);
        assert_eq!(
            assignments(&c),
            [
                ("viewer", "everyone", Some("w:2"), 0),
                ("viewer", "group:g", None, 1),
                ("viewer", "user:a", Some("w:1"), 1)
            ]
        );
        let missed: Vec<_> = c.assignments_missed().map(|a| a.subject.as_str()).collect();
        assert_eq!(missed, ["everyone"]);
    }

    #[test]
    fn an_exclusive_set_counts_where_it_denied() {
        let src = format!(
            "{TYPES}group g; role a {{ allow read on p; }} role b {{ allow run on p; }} role c {{ allow run on p; }}\n\
             exclusive a, b; exclusive b, c;\n\
             assign a to user:x; assign b to group:g on w:1; assign c to user:y;\n\
             test \"t\" {{ expect deny user:x groups [g] read w:1/p:q; expect allow user:x groups [g] read w:2/p:q; }}\n"
        );
        let c = coverage_of(&src);
        let sets: Vec<(Vec<&str>, usize)> =
            c.exclusive.iter().map(|e| (e.roles.iter().map(String::as_str).collect(), e.decided)).collect();
        assert_eq!(sets, [(vec!["a", "b"], 1), (vec!["b", "c"], 0)]);
        // The clash decided the deny: no rule did, and no assignment brought one in.
        assert_eq!(rules(&c), [("a", "allow", 1), ("b", "allow", 0), ("c", "allow", 0)]);
    }

    #[test]
    fn a_bundle_covers_as_its_sources_do() {
        let src = format!(
            "{TYPES}role viewer {{ allow read on p; }} role runner {{ allow run on p; }}\n\
             assign viewer to user:a; assign runner to user:a on w:1;\n\
             test \"t\" {{ expect allow user:a read w:2/p:q; }}\n"
        );
        let policy = crate::compile_str("t.rbac", &src).policy.expect("compiles");
        let loaded = Policy::from_bundle(&policy.to_bundle()).expect("loads");
        assert_eq!(loaded.coverage(), policy.coverage());
        assert_eq!(policy.coverage().rules_missed().count(), 1);
    }
}
