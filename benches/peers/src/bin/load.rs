//! Load (compile) time and peak memory of one engine at one size, in a process of its own so
//! peaks do not mix. Usage: `load ENGINE SIZE` with ENGINE one of:
//!
//! - `rbac`: `rbac::compile` of `data/SIZE/policy.rbac` (write it first with the `gen`
//!   binary); the peak is the whole process's (`VmHWM`), source text included;
//! - `wasm`: the same compile, then emitting and instantiating the module; its peak is
//!   measured from the compiled policy on (freed heap returned to the system first);
//! - `cedar`, `casbin`: the generated workload, then building the peer's policies and store;
//!   the peak is measured from the generated workload on.
//!
//! Prints one line: wall seconds and this thread's CPU seconds for the load, the process's peak
//! resident memory (`VmHWM`) and its resident memory when the load started (`base`).

use rbac_peers::cputime::thread_cpu;
use rbac_peers::mem::{reset_peak, rss_kib};
use rbac_peers::workload::{Size, Workload};
use rbac_peers::{casbin, cedar};
use std::time::Instant;

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(engine), Some(size)) = (args.first(), args.get(1).and_then(|s| Size::parse(s))) else {
        return Err("usage: load rbac|wasm|cedar|casbin S|M|L".into());
    };
    let path = format!("data/{}/policy.rbac", size.name());
    let compile = || {
        let c = rbac::compile(&rbac::FsLoader, &[path.as_str()]);
        let rendered = if c.policy.is_none() { c.render(false) } else { String::new() };
        c.policy.ok_or(rendered)
    };
    // CPU time at the start and at the end of the load.
    let cpu = std::cell::Cell::new(std::time::Duration::ZERO);
    let cpu_end = std::cell::Cell::new(std::time::Duration::ZERO);
    let stop = |t: Instant| {
        cpu_end.set(thread_cpu());
        t.elapsed().as_secs_f64()
    };
    let (base, seconds, extra) = match engine.as_str() {
        "rbac" => {
            let base = rss_kib().1;
            cpu.set(thread_cpu());
            let t = Instant::now();
            let policy = compile()?;
            let s = stop(t);
            std::hint::black_box(&policy);
            (base, s, String::new())
        }
        "wasm" => {
            let policy = compile()?;
            // Give freed heap back to the system first, so `base` is what the policy keeps.
            // SAFETY: malloc_trim only releases free memory of glibc's heap.
            unsafe { libc::malloc_trim(0) };
            reset_peak();
            let base = rss_kib().1;
            cpu.set(thread_cpu());
            let t = Instant::now();
            let bytes = rbac::wasm::emit(&policy).map_err(|e| e.to_string())?;
            let module = rbac::wasm::WasmPolicy::new(&bytes).map_err(|e| e.to_string())?;
            let s = stop(t);
            std::hint::black_box(&module);
            (base, s, format!(" module_bytes={}", bytes.len()))
        }
        "cedar" | "casbin" => {
            let w = Workload::generate(size);
            reset_peak();
            let base = rss_kib().1;
            cpu.set(thread_cpu());
            let t = Instant::now();
            if engine == "cedar" {
                let e = cedar::CedarEngine::load(&w)?;
                std::hint::black_box(&e);
            } else {
                let e = casbin::load(&w)?;
                std::hint::black_box(&e);
            }
            (base, stop(t), String::new())
        }
        other => return Err(format!("unknown engine `{other}`")),
    };
    let cpu = cpu_end.get().saturating_sub(cpu.get()).as_secs_f64();
    let (peak, _) = rss_kib();
    println!(
        "engine={engine} size={} seconds={seconds:.3} cpu_seconds={cpu:.3} peak_mib={:.1} base_mib={:.1}{extra}",
        size.name(),
        mib(peak),
        mib(base)
    );
    Ok(())
}
