//! Prints the SealedSecret CRD YAML; `crdgen > crds/sealedsecret.yaml` refreshes the
//! committed copy, and `.ci/run` fails when the two differ.

fn main() -> std::process::ExitCode {
    match gitseal_crds::crd_yaml() {
        Ok(yaml) => {
            print!("{yaml}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("crdgen: cannot render the CRD: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
