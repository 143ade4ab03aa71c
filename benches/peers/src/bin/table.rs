//! Prints the decision-latency tables of RESULTS.md from criterion's saved estimates
//! (`target/criterion/decide_ENGINE/SIZE/new/estimates.json`, and `decide-cpu_ENGINE` for the
//! CPU-time clock): medians, and each engine's median divided by native rbac's.
//! Usage: `cargo run --release --bin table` after the benchmark.

use std::path::Path;

/// The columns: `check` on prepared parts, `verdict`, `decide`, wasm, Cedar, Casbin.
const ENGINES: [&str; 6] = ["rbac-prepared", "rbac-verdict", "rbac-native", "rbac-wasm", "cedar", "casbin"];

/// The median, in nanoseconds, of one benchmark, if it ran.
fn median(clock: &str, engine: &str, size: &str) -> Option<f64> {
    let path = Path::new("target/criterion").join(format!("{clock}_{engine}")).join(size).join("new/estimates.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v.get("median")?.get("point_estimate")?.as_f64()
}

fn human(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn main() {
    for (clock, title) in [("decide", "wall time"), ("decide-cpu", "thread CPU time")] {
        table(clock, title);
    }
}

fn table(clock: &str, title: &str) {
    println!("\nMedian decision latency ({title}):\n");
    println!(
        "| size | prepared | verdict | decide | wasm | Cedar | Casbin | Cedar / prepared | Cedar / verdict | Cedar / decide | wasm / decide |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for size in ["S", "M", "L"] {
        let m: Vec<Option<f64>> = ENGINES.iter().map(|e| median(clock, e, size)).collect();
        if m.iter().all(Option::is_none) {
            continue;
        }
        let at = |i: usize| m.get(i).copied().flatten();
        let cell = |i: usize| at(i).map_or("not run".to_string(), human);
        let ratio = |i: usize, j: usize, digits: usize| match (at(i), at(j)) {
            (Some(x), Some(n)) => format!("{:.digits$}x", x / n),
            _ => "-".to_string(),
        };
        let cells: Vec<String> = (0..ENGINES.len()).map(cell).collect();
        println!(
            "| {size} | {} | {} | {} | {} | {} |",
            cells.join(" | "),
            ratio(4, 0, 0),
            ratio(4, 1, 0),
            ratio(4, 2, 0),
            ratio(3, 2, 1)
        );
    }
}
