//! A small driver for profilers (`perf record`, `valgrind --tool=callgrind`): decides the
//! workload's request set ROUNDS times with the native evaluator, after compiling it.
//! Usage: `profile SIZE [ROUNDS] [native|verdict|prepared|wasm|wasm-raw]` (default 1000 rounds of 1000 requests,
//! native; `verdict` leaves the reasons as indexes; `prepared` decides on principals and resources
//! resolved beforehand; `wasm-raw` times the module alone, on requests encoded beforehand).

use rbac_peers::workload::{Size, Workload};
use std::time::Instant;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let size = args.first().and_then(|s| Size::parse(s)).unwrap_or(Size::M);
    let rounds: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let w = Workload::generate(size);
    let compiled = rbac::compile_str("workload.rbac", &w.policy_text());
    let Some(policy) = compiled.policy else { return Err(compiled.render(false)) };
    let mut requests = w.rbac_requests();
    if let Some(n) = std::env::var("PROFILE_REQUESTS").ok().and_then(|n| n.parse().ok()) {
        requests.truncate(n);
    }
    // PROFILE_GROUPS=K: each direct principal's groups made up to K names, other groups of the
    // workload (as an identity provider's token with many groups gives them).
    if let Some(k) = std::env::var("PROFILE_GROUPS").ok().and_then(|n| n.parse::<usize>().ok()) {
        let n = w.params.groups.max(1) as usize;
        for (i, r) in requests.iter_mut().enumerate() {
            if let rbac::Principal::Direct(p) = &mut r.principal {
                let mut j = 0;
                while p.groups.len() < k {
                    p.groups.push(format!("g{}", (i * 7919 + j * 104_729) % n));
                    j += 1;
                }
            }
        }
    }
    // PROFILE_REPEAT=K: the requests so far repeated K times (copies, each allocated anew),
    // to tell what the branch predictor learns from what the caches hold.
    if let Some(k) = std::env::var("PROFILE_REPEAT").ok().and_then(|n| n.parse::<usize>().ok()) {
        let base = requests.clone();
        requests = (0..k).flat_map(|_| base.iter().cloned()).collect();
    }
    let mode = args.get(2).map_or("native", String::as_str);
    let mut module = match mode {
        "wasm" | "wasm-raw" => {
            Some(rbac::wasm::emit(&policy).and_then(|b| rbac::wasm::WasmPolicy::new(&b)).map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    if let (Some(m), "wasm-raw") = (module.as_mut(), mode) {
        let mut encoded: Vec<Vec<u8>> = requests.iter().map(rbac::wasm::encode).collect();
        // RAW_EMPTY=1: a malformed 4-byte input, to time the call itself.
        if std::env::var("RAW_EMPTY").is_ok() {
            encoded = vec![b"xxxx".to_vec(); encoded.len()];
        }
        let t = Instant::now();
        let mut allows = 0usize;
        for _ in 0..rounds {
            for e in &encoded {
                allows += usize::from(m.decide_raw(e)? == 1);
            }
        }
        let n = rounds * encoded.len();
        println!("{n} raw module calls, {allows} allow, {:.1} ns each", t.elapsed().as_nanos() as f64 / n as f64);
        return Ok(());
    }
    if mode == "prepared" {
        let prepared = Workload::prepared(&policy, &requests);
        let mut allows = 0usize;
        let mut per_round = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t = Instant::now();
            for (s, t, a, c) in &prepared {
                allows += usize::from(std::hint::black_box(policy.check(s, a, t, c).is_allow()));
            }
            per_round.push(t.elapsed().as_nanos() as f64 / prepared.len() as f64);
        }
        per_round.sort_by(f64::total_cmp);
        let min = per_round.first().copied().unwrap_or(0.0);
        let median = per_round.get(per_round.len() / 2).copied().unwrap_or(0.0);
        println!(
            "{} prepared decisions, {allows} allow, {min:.1} ns each in the fastest round, {median:.1} ns median",
            rounds * prepared.len()
        );
        return Ok(());
    }
    // Each round is timed on its own: the fastest and the median round say more than the mean
    // on a shared machine.
    let mut allows = 0usize;
    let mut per_round = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        for r in &requests {
            let allow = match (module.as_mut(), mode) {
                (Some(m), _) => m.decide(r).is_allow(),
                (None, "verdict") => policy.verdict(r).is_allow(),
                (None, _) => policy.decide(r).is_allow(),
            };
            allows += usize::from(std::hint::black_box(allow));
        }
        per_round.push(t.elapsed().as_nanos() as f64 / requests.len() as f64);
    }
    per_round.sort_by(f64::total_cmp);
    let n = rounds * requests.len();
    let min = per_round.first().copied().unwrap_or(0.0);
    let median = per_round.get(per_round.len() / 2).copied().unwrap_or(0.0);
    println!("{n} decisions, {allows} allow, {min:.1} ns each in the fastest round, {median:.1} ns median");
    Ok(())
}
