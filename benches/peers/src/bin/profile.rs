//! A small driver for profilers (`perf record`, `valgrind --tool=callgrind`): decides the
//! workload's request set ROUNDS times with the native evaluator, after compiling it.
//! Usage: `profile SIZE [ROUNDS] [native|wasm|wasm-raw]` (default 1000 rounds of 1000 requests,
//! native; `wasm-raw` times the module alone, on requests encoded beforehand).

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
    let mode = args.get(2).map_or("native", String::as_str);
    let mut module = match mode {
        "wasm" | "wasm-raw" => Some(rbac::wasm::WasmPolicy::new(&rbac::wasm::emit(&policy)?)?),
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
    let t = Instant::now();
    let mut allows = 0usize;
    for _ in 0..rounds {
        for r in &requests {
            let d = match module.as_mut() {
                Some(m) => m.decide(r),
                None => policy.decide(r),
            };
            allows += usize::from(std::hint::black_box(d).is_allow());
        }
    }
    let n = rounds * requests.len();
    println!("{n} decisions, {allows} allow, {:.1} ns each", t.elapsed().as_nanos() as f64 / n as f64);
    Ok(())
}
