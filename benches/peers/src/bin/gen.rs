//! Writes a workload's files: `data/SIZE/policy.rbac`, `requests.jsonl`, and the peers'
//! translations (`cedar.policies`, `casbin.csv`, `casbin.conf`), for reading and for the CLI
//! (`rbac eval data/M/policy.rbac --request data/M/requests.jsonl`).
//! Usage: `cargo run --release --bin gen -- S M L`.

use rbac_peers::workload::{Size, Workload};
use std::path::Path;

fn main() -> Result<(), String> {
    let sizes: Vec<Size> = std::env::args().skip(1).filter_map(|a| Size::parse(&a)).collect();
    for size in if sizes.is_empty() { vec![Size::S, Size::M] } else { sizes } {
        let w = Workload::generate(size);
        let dir = Path::new("data").join(size.name());
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let write = |name: &str, text: String| std::fs::write(dir.join(name), text).map_err(|e| e.to_string());
        write("policy.rbac", w.policy_text())?;
        write("requests.jsonl", w.requests_jsonl())?;
        write("cedar.policies", rbac_peers::cedar::policies(&w))?;
        write("casbin.conf", rbac_peers::casbin::MODEL.to_string())?;
        write("casbin.csv", rbac_peers::casbin::policy_csv(&w))?;
        println!("{}: wrote {}", size.name(), dir.display());
    }
    Ok(())
}
