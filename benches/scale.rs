//! How decisions and compilation scale with the size of the policy (issue 6), on the shared
//! generated workload (`benches/workload`): native decision latency (`decide`, `verdict`, and
//! `check` on a prepared principal and resource) at S (1k assignments),
//! M (100k) and L (1M), cycling through the workload's fixed mixed set of requests, compile
//! time at S and M, and saving and loading the compiled policy as a bundle at every size. Run
//! with `cargo bench --bench scale`; `RBAC_SCALE_SIZES=S,M` limits the sizes. The comparison
//! with Cedar and Casbin is the separate package `benches/peers`.

mod workload;

use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use workload::{Size, Workload};

fn sizes() -> Vec<Size> {
    match std::env::var("RBAC_SCALE_SIZES") {
        Ok(list) => list.split(',').filter_map(Size::parse).collect(),
        Err(_) => Size::ALL.to_vec(),
    }
}

fn bench(c: &mut Criterion) {
    for size in sizes() {
        let w = Workload::generate(size);
        let text = w.policy_text();
        let compiled = rbac::compile_str("workload.rbac", &text);
        let Some(policy) = compiled.policy else {
            eprintln!("{}", compiled.render(false));
            return;
        };
        if size != Size::L {
            let mut group = c.benchmark_group("compile");
            // Seconds per compile at M: ten flat samples of one or two compiles each.
            group.sample_size(10).sampling_mode(SamplingMode::Flat);
            group.measurement_time(Duration::from_secs(if size == Size::S { 5 } else { 40 }));
            group.bench_function(BenchmarkId::from_parameter(size.name()), |b| {
                b.iter(|| rbac::compile_str("workload.rbac", black_box(&text)))
            });
            group.finish();
        }
        drop(text);

        // The compiled policy saved as a bundle (`rbac build --target bundle`) and loaded back.
        // Saving reuses the digest computed by the first call, so it times the encoding alone.
        let bytes = policy.to_bundle();
        let mut group = c.benchmark_group("bundle/save");
        group.sample_size(10);
        group.bench_function(BenchmarkId::from_parameter(size.name()), |b| b.iter(|| black_box(&policy).to_bundle()));
        group.finish();
        let mut group = c.benchmark_group("bundle/load");
        group.sample_size(10);
        group.bench_function(BenchmarkId::from_parameter(size.name()), |b| {
            b.iter(|| rbac::Policy::from_bundle(black_box(&bytes)).is_ok())
        });
        group.finish();
        drop(bytes);

        // One iteration is one decision; the requests cycle, so the figure is the mean over the
        // mixed set (allow and deny, 0-3 groups, with and without owners).
        let requests = w.rbac_requests();
        let mut group = c.benchmark_group("decide/native");
        group.bench_function(BenchmarkId::from_parameter(size.name()), |b| {
            let mut cycle = requests.iter().cycle();
            b.iter(|| cycle.next().map(|r| policy.decide(black_box(r))))
        });
        group.finish();

        // The same decisions with the reasons left as indexes (`Policy::verdict`).
        let mut group = c.benchmark_group("verdict/native");
        group.bench_function(BenchmarkId::from_parameter(size.name()), |b| {
            let mut cycle = requests.iter().cycle();
            b.iter(|| cycle.next().map(|r| policy.verdict(black_box(r)).is_allow()))
        });
        group.finish();

        // The same decisions on a principal and a resource resolved beforehand
        // (`Policy::subject`, `Policy::target`, then `Policy::check`).
        let prepared = Workload::prepared(&policy, &requests);
        let mut group = c.benchmark_group("check/native");
        group.bench_function(BenchmarkId::from_parameter(size.name()), |b| {
            let mut cycle = prepared.iter().cycle();
            b.iter(|| cycle.next().map(|(s, t, a, ctx)| policy.check(black_box(s), a, t, ctx).is_allow()))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
