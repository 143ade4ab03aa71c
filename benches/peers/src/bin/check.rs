//! Checks that every engine decides every request of the set exactly as the native `rbac`
//! evaluator does, and reports what differs. Exit 1 on any mismatch.
//! Usage: `cargo run --release --bin check -- S M [L] [--only wasm,cedar,casbin]
//! [--requests N] [--seed N]` (the last two vary the workload to widen the check).

use rbac_peers::check::{Mismatch, compare};
use rbac_peers::workload::{Size, Workload};
use rbac_peers::{casbin, cedar};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<Size> = args.iter().filter_map(|a| Size::parse(a)).collect();
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').map(str::to_string).collect());
    let wants = |e: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == e));
    let number = |flag: &str| {
        args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).and_then(|v| v.parse::<u64>().ok())
    };
    let mut bad = false;
    for size in if sizes.is_empty() { vec![Size::S, Size::M] } else { sizes } {
        let t = Instant::now();
        let mut params = size.params();
        if let Some(n) = number("--requests") {
            params.requests = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(seed) = number("--seed") {
            params.seed = seed;
        }
        let w = Workload::generate_with(size, params);
        let text = w.policy_text();
        println!("{}: generated in {:.2?} ({} bytes of .rbac)", size.name(), t.elapsed(), text.len());
        let t = Instant::now();
        let compiled = rbac::compile_str("workload.rbac", &text);
        let Some(policy) = compiled.policy else {
            eprintln!("{}", compiled.render(false));
            std::process::exit(2);
        };
        let warnings = compiled.diagnostics.iter().count();
        println!("  rbac: compiled in {:.2?} ({warnings} warnings)", t.elapsed());
        drop(text);
        let requests = w.rbac_requests();
        let decisions: Vec<rbac::Decision> = requests.iter().map(|r| policy.decide(r)).collect();
        let invalid = decisions.iter().filter(|d| !d.errors.is_empty()).count();
        let expected: Vec<bool> = decisions.iter().map(rbac::Decision::is_allow).collect();
        let allows = expected.iter().filter(|&&b| b).count();
        println!(
            "  rbac: {} requests, {allows} allow, {} deny, {invalid} invalid",
            expected.len(),
            expected.len() - allows
        );
        if invalid > 0 {
            for (r, d) in requests.iter().zip(&decisions).filter(|(_, d)| !d.errors.is_empty()).take(3) {
                println!("    invalid: {} -> {:?}", serde_json::to_string(r).unwrap_or_default(), d.errors);
            }
            bad = true;
        }
        let mut mismatches: Vec<Mismatch> = Vec::new();

        if wants("wasm") {
            let t = Instant::now();
            match rbac::wasm::emit(&policy).and_then(|b| {
                let len = b.len();
                rbac::wasm::WasmPolicy::new(&b).map(|m| (m, len))
            }) {
                Ok((mut module, len)) => {
                    println!("  wasm: {len} bytes, emitted and instantiated in {:.2?}", t.elapsed());
                    let mut i = 0;
                    mismatches.extend(compare(&w, "wasm", &expected, |_| {
                        let d = module.decide(&requests[i]);
                        i += 1;
                        if d.errors.is_empty() { Ok(d.is_allow()) } else { Err(format!("{:?}", d.errors)) }
                    }));
                }
                Err(e) => println!("  wasm: cannot be built or loaded: {e}"),
            }
        }
        if wants("cedar") {
            let t = Instant::now();
            match cedar::CedarEngine::load(&w) {
                Ok(engine) => {
                    println!("  cedar: loaded in {:.2?}", t.elapsed());
                    let mut errors = 0;
                    mismatches.extend(compare(&w, "cedar", &expected, |r| {
                        let req = engine.request(&w, r)?;
                        let (allow, errs) = engine.decide(&req);
                        errors += errs;
                        Ok(allow)
                    }));
                    if errors > 0 {
                        println!("  cedar: {errors} evaluation errors in responses");
                    }
                }
                Err(e) => println!("  cedar: cannot load: {e}"),
            }
        }
        if wants("casbin") {
            let t = Instant::now();
            match casbin::load(&w) {
                Ok(enforcer) => {
                    println!("  casbin: loaded in {:.2?}", t.elapsed());
                    mismatches.extend(compare(&w, "casbin", &expected, |r| {
                        casbin::decide(&enforcer, &casbin::request(&w, r))
                    }));
                }
                Err(e) => println!("  casbin: cannot load: {e}"),
            }
        }
        for m in mismatches.iter().take(20) {
            println!(
                "  MISMATCH {} #{}: rbac {} {} {}\n    {}",
                m.engine,
                m.index,
                if m.rbac { "allow" } else { "deny" },
                m.engine,
                if m.other { "allow" } else { "deny" },
                m.request
            );
        }
        println!("  {} mismatches", mismatches.len());
        bad |= !mismatches.is_empty();
    }
    if bad {
        std::process::exit(1);
    }
}
