//! Command-line tools run against the cluster: the pinned `kubectl`, and the helpers that
//! feed a tool its standard input and turn a failed run into an [`Error`].

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::{Cluster, Error, KUBECONFIG_ENV, workspace_root};

impl Cluster {
    /// `dev/cluster/kubectl <args>` as admin on this cluster (its kubeconfig passed through
    /// `$GITSEAL_KUBECONFIG`), with `stdin` as standard input; stdout and stderr captured.
    ///
    /// A run that exits non-zero is returned as it is: look at `status`, or use
    /// [`succeeded`].
    ///
    /// # Errors
    /// [`Error::RunCommand`] when the script cannot be started.
    pub fn kubectl(&self, args: &[&str], stdin: &[u8]) -> Result<Output, Error> {
        let mut command = Command::new(workspace_root().join("dev/cluster/kubectl"));
        command.args(args).env(KUBECONFIG_ENV, self.kubeconfig_path());
        output_with_stdin(&mut command, stdin)
    }
}

/// Runs `command` to completion with `stdin` as its standard input, capturing stdout and
/// stderr.
///
/// # Errors
/// [`Error::RunCommand`] when the program cannot be started or waited for.
pub fn output_with_stdin(command: &mut Command, stdin: &[u8]) -> Result<Output, Error> {
    let program = PathBuf::from(command.get_program());
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::RunCommand { program: program.clone(), source })?;
    let pipe = child.stdin.take();
    // Written from a second thread: a tool that answers before it has read all of its
    // input would otherwise fill its stdout pipe while this thread blocks on its stdin.
    std::thread::scope(|scope| {
        if let Some(mut pipe) = pipe {
            // A tool that exits without reading its input breaks the pipe; its exit status
            // says what went wrong, not the write.
            scope.spawn(move || pipe.write_all(stdin));
        }
        child.wait_with_output()
    })
    .map_err(|source| Error::RunCommand { program, source })
}

/// `output` when its program exited successfully; otherwise [`Error::CommandFailed`],
/// naming the command as `what` and carrying its stderr.
///
/// # Errors
/// [`Error::CommandFailed`].
pub fn succeeded(what: &str, output: Output) -> Result<Output, Error> {
    if output.status.success() {
        Ok(output)
    } else {
        Err(Error::CommandFailed {
            command: what.into(),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().into(),
        })
    }
}
