//! The agreement check: every engine must decide every request of the set exactly as the
//! native `rbac` evaluator does before anything is timed.

use crate::workload::{Req, Workload};

/// One engine's answer that differs from `rbac`'s.
#[derive(Debug)]
pub struct Mismatch {
    pub engine: &'static str,
    pub index: usize,
    pub rbac: bool,
    pub other: bool,
    pub request: String,
}

/// Counts of a check: requests, allows (by rbac), mismatches.
#[derive(Debug, Default)]
pub struct Report {
    pub requests: usize,
    pub allows: usize,
    pub mismatches: Vec<Mismatch>,
}

/// Compares `decide` with `rbac`'s decisions (`expected`, one per request).
pub fn compare(
    w: &Workload,
    engine: &'static str,
    expected: &[bool],
    mut decide: impl FnMut(&Req) -> Result<bool, String>,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for (i, (r, &want)) in w.requests.iter().zip(expected).enumerate() {
        let got = match decide(r) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{engine}: request {i} failed: {e}");
                !want
            }
        };
        if got != want {
            let request = serde_json::to_string(&w.rbac_request(r)).unwrap_or_default();
            out.push(Mismatch { engine, index: i, rbac: want, other: got, request });
        }
    }
    out
}
