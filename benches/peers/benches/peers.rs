//! Decision latency of `rbac` (native and through wasmtime), Cedar and Casbin on the same
//! generated workload, in one run. Every engine is first checked to decide every request of
//! the set exactly as native `rbac` does; an engine that disagrees is not timed.
//!
//! One iteration is one decision; the requests cycle, so each figure is the mean over the
//! workload's mixed set (allow and deny, 0-3 groups, with and without owners). Request objects
//! are built before timing for every engine (`rbac::Request`, `cedar_policy::Request`, Casbin's
//! `Vec<String>`); what is timed is each engine's own decide call.
//!
//! `rbac-prepared` decides the same requests from a principal and a resource resolved before
//! timing (`Policy::subject`, `Policy::target`, then `Policy::check`), the way a session or a
//! list filter reuses them.
//!
//! `PEERS_SIZES` (default `S,M`) and `PEERS_ENGINES` (default `rbac,wasm,cedar,casbin`) choose
//! what runs: `PEERS_SIZES=L PEERS_ENGINES=rbac,wasm cargo bench --bench peers`.
//! `PEERS_CLOCK=cpu` times with this thread's CPU time instead of wall time (groups
//! `decide-cpu/ENGINE`), which leaves out the time other processes of a shared machine hold
//! the CPU.

use criterion::measurement::Measurement;
use criterion::{BenchmarkId, Criterion};
use rbac_peers::check::compare;
use rbac_peers::cputime::ThreadCpuTime;
use rbac_peers::workload::{Size, Workload};
use rbac_peers::{casbin, cedar};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name).unwrap_or_else(|_| default.to_string()).split(',').map(str::to_string).collect()
}

/// Prints the disagreements and says whether there were none.
fn agrees(engine: &str, size: Size, mismatches: &[rbac_peers::check::Mismatch]) -> bool {
    for m in mismatches.iter().take(5) {
        eprintln!("{engine}/{}: request {} rbac={} {engine}={}: {}", size.name(), m.index, m.rbac, m.other, m.request);
    }
    if !mismatches.is_empty() {
        eprintln!("{engine}/{}: {} mismatches: NOT TIMED", size.name(), mismatches.len());
    }
    mismatches.is_empty()
}

fn bench<M: Measurement>(c: &mut Criterion<M>, prefix: &str) {
    let engines = env_list("PEERS_ENGINES", "rbac,wasm,cedar,casbin");
    let wants = |e: &str| engines.iter().any(|x| x == e);
    for size in env_list("PEERS_SIZES", "S,M").iter().filter_map(|s| Size::parse(s)) {
        let w = Workload::generate(size);
        let compiled = rbac::compile_str("workload.rbac", &w.policy_text());
        let Some(policy) = compiled.policy else {
            eprintln!("{}", compiled.render(false));
            return;
        };
        let requests = w.rbac_requests();
        let expected: Vec<bool> = requests.iter().map(|r| policy.decide(r).is_allow()).collect();
        let id = BenchmarkId::from_parameter(size.name());

        if wants("rbac") {
            let mut group = c.benchmark_group(format!("{prefix}/rbac-native"));
            group.bench_function(id.clone(), |b| {
                let mut cycle = requests.iter().cycle();
                b.iter(|| cycle.next().map(|r| policy.decide(black_box(r))))
            });
            group.finish();
            // The same decisions with reasons left as indexes until asked for.
            let mut group = c.benchmark_group(format!("{prefix}/rbac-verdict"));
            group.bench_function(id.clone(), |b| {
                let mut cycle = requests.iter().cycle();
                b.iter(|| cycle.next().map(|r| policy.verdict(black_box(r)).is_allow()))
            });
            group.finish();
            // The same decisions on a principal and a resource resolved beforehand
            // (`Policy::subject`, `Policy::target`): what a decision costs when no name but
            // the action is read.
            let prepared = Workload::prepared(&policy, &requests);
            let same = prepared.len() == requests.len()
                && prepared.iter().zip(&expected).all(|((s, t, a, c), e)| policy.check(s, a, t, c).is_allow() == *e);
            if same {
                let mut group = c.benchmark_group(format!("{prefix}/rbac-prepared"));
                group.bench_function(id.clone(), |b| {
                    let mut cycle = prepared.iter().cycle();
                    b.iter(|| cycle.next().map(|(s, t, a, c)| policy.check(black_box(s), a, t, c).is_allow()))
                });
                group.finish();
            } else {
                eprintln!("rbac-prepared/{}: decides otherwise than decide: NOT TIMED", size.name());
            }
        }

        if wants("wasm") {
            match rbac::wasm::emit(&policy).and_then(|b| rbac::wasm::WasmPolicy::new(&b)) {
                Ok(mut module) => {
                    let mut i = 0;
                    let mismatches = compare(&w, "wasm", &expected, |_| {
                        let d = requests.get(i).map(|r| module.decide(r));
                        i += 1;
                        d.map(|d| d.is_allow()).ok_or_else(|| "no request".to_string())
                    });
                    if agrees("wasm", size, &mismatches) {
                        let mut group = c.benchmark_group(format!("{prefix}/rbac-wasm"));
                        group.bench_function(id.clone(), |b| {
                            let mut cycle = requests.iter().cycle();
                            b.iter(|| cycle.next().map(|r| module.decide(black_box(r)).is_allow()))
                        });
                        group.finish();
                    }
                }
                Err(e) => eprintln!("wasm/{}: not timed: the module cannot be built or loaded: {e}", size.name()),
            }
        }

        if wants("cedar") {
            let t = Instant::now();
            match cedar::CedarEngine::load(&w) {
                Ok(engine) => {
                    eprintln!("cedar/{}: loaded in {:.2?}", size.name(), t.elapsed());
                    let reqs: Vec<_> = w.requests.iter().filter_map(|r| engine.request(&w, r).ok()).collect();
                    let mut i = 0;
                    let mismatches = compare(&w, "cedar", &expected, |_| {
                        let d = reqs.get(i).map(|r| engine.decide(r).0);
                        i += 1;
                        d.ok_or_else(|| "no request".to_string())
                    });
                    if reqs.len() == w.requests.len() && agrees("cedar", size, &mismatches) {
                        let mut group = c.benchmark_group(format!("{prefix}/cedar"));
                        group.sample_size(50).measurement_time(Duration::from_secs(10));
                        group.bench_function(id.clone(), |b| {
                            let mut cycle = reqs.iter().cycle();
                            b.iter(|| {
                                cycle.next().map(|r| {
                                    engine.authorizer.is_authorized(black_box(r), &engine.policies, &engine.entities)
                                })
                            })
                        });
                        group.finish();
                    }
                }
                Err(e) => eprintln!("cedar/{}: not timed: {e}", size.name()),
            }
        }

        if wants("casbin") {
            let t = Instant::now();
            match casbin::load(&w) {
                Ok(enforcer) => {
                    eprintln!("casbin/{}: loaded in {:.2?}", size.name(), t.elapsed());
                    let reqs: Vec<Vec<String>> = w.requests.iter().map(|r| casbin::request(&w, r)).collect();
                    let mut i = 0;
                    let mismatches = compare(&w, "casbin", &expected, |_| {
                        let d = reqs.get(i).map(|r| casbin::decide(&enforcer, r));
                        i += 1;
                        d.unwrap_or_else(|| Err("no request".to_string()))
                    });
                    if agrees("casbin", size, &mismatches) {
                        let mut group = c.benchmark_group(format!("{prefix}/casbin"));
                        group.sample_size(10).measurement_time(Duration::from_secs(10));
                        group.bench_function(id.clone(), |b| {
                            let mut cycle = reqs.iter().cycle();
                            b.iter(|| cycle.next().map(|r| casbin::decide(&enforcer, black_box(r))))
                        });
                        group.finish();
                    }
                }
                Err(e) => eprintln!("casbin/{}: not timed: {e}", size.name()),
            }
        }
    }
}

fn main() {
    if std::env::var("PEERS_CLOCK").is_ok_and(|v| v == "cpu") {
        let mut c = Criterion::default().with_measurement(ThreadCpuTime).configure_from_args();
        bench(&mut c, "decide-cpu");
        c.final_summary();
    } else {
        let mut c = Criterion::default().configure_from_args();
        bench(&mut c, "decide");
        c.final_summary();
    }
}
