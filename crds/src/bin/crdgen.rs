//! Writes gitseal's CRD YAML into a directory, or checks that the committed copies match
//! the Rust types:
//!
//! ```text
//! crdgen crds            # refresh crds/*.yaml
//! crdgen --check crds    # CI: exit 1 when a committed file drifted
//! ```

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (check, dir) = match args.as_slice() {
        [flag, dir] if flag == "--check" => (true, dir),
        [dir] if !dir.starts_with('-') => (false, dir),
        _ => {
            eprintln!("usage: crdgen [--check] DIR");
            return ExitCode::from(2);
        }
    };
    let files = match gitseal_crds::crd_files() {
        Ok(files) => files,
        Err(e) => {
            eprintln!("crdgen: cannot render the CRDs: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut ok = true;
    for (name, yaml) in files {
        let path = Path::new(dir).join(name);
        if check {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(yaml.as_str()) {
                eprintln!("{} is stale: run `cargo run -p gitseal-crds --bin crdgen -- {dir}`", path.display());
                ok = false;
            }
        } else if let Err(e) = std::fs::write(&path, yaml) {
            eprintln!("crdgen: cannot write {}: {e}", path.display());
            ok = false;
        }
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
