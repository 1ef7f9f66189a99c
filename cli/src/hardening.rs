//! Keeping secrets out of core dumps, for both binaries (the controller includes this
//! file too): a crash or a `gcore` must not write the process's memory, which holds
//! plaintext values and private keys, to disk.

/// Makes the process non-dumpable (no core file, no ptrace by same-uid processes; its
/// `/proc/<pid>` entries become root's) and sets its core file limit to 0, so neither
/// the kernel nor a core handler that ignores one of them writes its memory out.
///
/// # Errors
/// When the kernel refuses either; the caller stops rather than run unprotected.
#[cfg(target_os = "linux")]
pub fn forbid_core_dumps() -> std::io::Result<()> {
    use rustix::process::{DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit};
    set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    setrlimit(Resource::Core, Rlimit { current: Some(0), maximum: Some(0) })?;
    Ok(())
}

/// Elsewhere: only the core file limit, which POSIX has.
#[cfg(not(target_os = "linux"))]
pub fn forbid_core_dumps() -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    setrlimit(Resource::Core, Rlimit { current: Some(0), maximum: Some(0) })?;
    Ok(())
}
