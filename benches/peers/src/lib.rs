//! The issue-6 workload translated into the peers: Cedar ([`cedar`]) and Casbin ([`casbin`]),
//! plus the agreement check every benchmark runs before it times anything ([`check`]).

#[path = "../../workload/mod.rs"]
pub mod workload;

pub mod casbin;
pub mod cedar;
pub mod check;
pub mod cputime;
pub mod mem;
