//! A small driver for profilers (`perf record`, `valgrind --tool=callgrind`): decides the
//! workload's request set ROUNDS times with the native evaluator, after compiling it.
//! Usage: `profile SIZE [ROUNDS]` (default 1000 rounds of 1000 requests).

use rbac_peers::workload::{Size, Workload};
use std::time::Instant;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let size = args.first().and_then(|s| Size::parse(s)).unwrap_or(Size::M);
    let rounds: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let w = Workload::generate(size);
    let compiled = rbac::compile_str("workload.rbac", &w.policy_text());
    let Some(policy) = compiled.policy else { return Err(compiled.render(false)) };
    let requests = w.rbac_requests();
    let t = Instant::now();
    let mut allows = 0usize;
    for _ in 0..rounds {
        for r in &requests {
            allows += usize::from(std::hint::black_box(policy.decide(r)).is_allow());
        }
    }
    let n = rounds * requests.len();
    println!("{n} decisions, {allows} allow, {:.1} ns each", t.elapsed().as_nanos() as f64 / n as f64);
    Ok(())
}
