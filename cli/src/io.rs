//! The CLI's contact with files and streams: reading input, writing output atomically,
//! finding files in a repository.

use std::fs;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use zeroize::Zeroizing;

/// An input named on the command line, `-` meaning stdin.
pub struct Input {
    /// How messages name it.
    pub label: String,
    /// Its text, zeroized on drop (it may hold plaintext Secrets).
    pub text: Zeroizing<String>,
}

/// Reads a file, or stdin for `-`, as UTF-8 text.
pub fn read_input(path: &str) -> Result<Input> {
    let (label, bytes) = if path == "-" {
        let mut buf = Zeroizing::new(Vec::new());
        io::stdin().read_to_end(&mut buf).context("cannot read stdin")?;
        ("<stdin>".to_owned(), buf)
    } else {
        if Path::new(path).is_dir() {
            bail!(
                "{path} is a directory: -f takes one file (or - for stdin); for each file, e.g. \
                 `for f in {}/*.yaml; do gitseal seal -f \"$f\" -w \"sealed/${{f##*/}}\"; done`",
                path.trim_end_matches('/')
            );
        }
        (path.to_owned(), Zeroizing::new(fs::read(path).with_context(|| format!("cannot read {path}"))?))
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| anyhow::anyhow!("{label}: not UTF-8 text"))?;
    Ok(Input { label, text: Zeroizing::new(text.to_owned()) })
}

/// Reads a value's bytes from a file, or from stdin when `path` is `None`.
pub fn read_value(path: Option<&Path>) -> Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(Vec::new());
    match path {
        Some(p) => buf.extend_from_slice(&fs::read(p).with_context(|| format!("cannot read {}", p.display()))?),
        None => {
            io::stdin().read_to_end(&mut buf).context("cannot read the value from stdin")?;
        }
    }
    Ok(buf)
}

/// Reads an age identity file (`-i`): the private keys, never copied out of zeroized
/// memory.
///
/// # Errors
/// When it cannot be read, is not UTF-8 text, or holds no valid identity (naming it).
pub fn read_identity(path: &Path) -> Result<gitseal::KeyRing> {
    let bytes =
        Zeroizing::new(fs::read(path).with_context(|| format!("cannot read identity file {}", path.display()))?);
    let text = std::str::from_utf8(&bytes)
        .ok()
        .with_context(|| format!("identity file {}: not UTF-8 text", path.display()))?;
    gitseal::KeyRing::parse_identity_file(text).with_context(|| path.display().to_string())
}

/// Reads one line from the terminal on stdin with echo off, after `prompt` on stderr;
/// without its line end. The terminal's settings are restored whatever happens.
pub fn prompt_hidden(prompt: &str) -> Result<Zeroizing<Vec<u8>>> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = io::stdin();
    let original = tcgetattr(&stdin).context("cannot read the terminal's settings")?;
    let mut quiet = original.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    // Echo off before the prompt, and without discarding input: what is typed as soon as
    // the prompt shows is read, never echoed.
    tcsetattr(&stdin, OptionalActions::Now, &quiet).context("cannot turn the terminal's echo off")?;
    eprint!("{prompt}");
    let mut line = Zeroizing::new(String::new());
    let read = stdin.read_line(&mut line);
    let restored = tcsetattr(&stdin, OptionalActions::Now, &original);
    eprintln!();
    read.context("cannot read the value from the terminal")?;
    restored.context("cannot restore the terminal's settings")?;
    let value = line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line);
    Ok(Zeroizing::new(value.as_bytes().to_vec()))
}

/// Writes `contents` to `path` atomically: a temporary file in the same directory,
/// flushed, then renamed over the target, so a failure never leaves a partial file.
/// `mode` sets the permissions of a new file; an existing file keeps its own.
pub fn write_atomic(path: &Path, contents: &[u8], mode: Option<u32>) -> Result<()> {
    write_atomic_checked(path, contents, mode, |_| Ok(()))
}

/// As [`write_atomic`], reading the temporary file back and passing its text to `check`
/// before the rename: when `check` refuses, the target is left untouched.
///
/// # Errors
/// When writing fails, the text read back is not UTF-8, or `check` refuses.
pub fn write_atomic_checked(
    path: &Path,
    contents: &[u8],
    mode: Option<u32>,
    check: impl FnOnce(&str) -> Result<()>,
) -> Result<()> {
    if path.is_dir() {
        bail!("{} is a directory: name the file to write", path.display());
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Errors name the file asked for, never the temporary file beside it.
    let mut tmp = tempfile::Builder::new()
        .prefix(".gitseal-")
        .tempfile_in(dir)
        .map_err(os_error)
        .with_context(|| format!("cannot write {} (its directory {})", path.display(), dir.display()))?;
    tmp.write_all(contents)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(os_error)
        .with_context(|| format!("cannot write {}", path.display()))?;
    set_mode(tmp.path(), path, mode)?;
    let written = Zeroizing::new(fs::read(tmp.path()).with_context(|| format!("cannot read back {}", path.display()))?);
    check(
        std::str::from_utf8(&written).map_err(|_| anyhow::anyhow!("{}: written text is not UTF-8", path.display()))?,
    )?;
    tmp.persist(path).map_err(|e| os_error(e.error)).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// The operating system's words for an error, without the path tempfile adds to it.
/// (tempfile appends ` at path "<temporary file>"` and keeps the original error private).
fn os_error(e: io::Error) -> io::Error {
    if e.raw_os_error().is_some() {
        return e;
    }
    let text = e.to_string();
    io::Error::new(e.kind(), text.split(" at path ").next().unwrap_or_default().to_owned())
}

#[cfg(unix)]
fn set_mode(tmp: &Path, target: &Path, mode: Option<u32>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = match fs::metadata(target) {
        Ok(meta) => meta.permissions().mode() & 0o7777,
        Err(_) => mode.unwrap_or(0o644),
    };
    fs::set_permissions(tmp, fs::Permissions::from_mode(mode)).context("cannot set file permissions")
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: &Path, _: Option<u32>) -> Result<()> {
    Ok(())
}

/// Creates a new file with mode 0600, refusing to overwrite an existing one.
pub fn write_new_private(path: &Path, contents: &[u8]) -> Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| match path.exists() {
        true => format!("{} already exists; gitseal never overwrites a key file", path.display()),
        false => format!("cannot create {}", path.display()),
    })?;
    file.write_all(contents).and_then(|()| file.sync_all()).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes a private file atomically with mode 0600: a temporary file (created 0600) in the
/// target's directory, then renamed into place. An existing file is replaced only when
/// `replace` is set, and then the result is 0600 too.
pub fn write_private(path: &Path, contents: &[u8], replace: bool) -> Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".gitseal-")
        .tempfile_in(dir_of(path))
        .with_context(|| format!("cannot create a temporary file beside {}", path.display()))?;
    tmp.write_all(contents)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    // tempfile creates the file 0600 on Unix, and renaming keeps that mode.
    let persisted = if replace { tmp.persist(path) } else { tmp.persist_noclobber(path) };
    persisted.map(drop).map_err(|e| match e.error.kind() {
        io::ErrorKind::AlreadyExists => {
            anyhow::anyhow!("{} already exists; pass --force to replace it", path.display())
        }
        _ => anyhow::Error::new(e.error).context(format!("cannot write {}", path.display())),
    })
}

/// Writes output to a file atomically, or to stdout.
/// Refuses to rewrite documents of `text` in place when their spans do not line up with
/// the `parsed` documents (a YAML null document, which the parser drops): splicing by
/// index would replace the wrong document.
pub fn check_spliceable(label: &str, text: &str, parsed: usize) -> Result<()> {
    if !gitseal::documents::spliceable(text, parsed) {
        bail!(
            "{label}: holds an empty (null) YAML document, so its documents cannot be rewritten in place safely; \
             remove the empty document (a lone `~` or `null` between `---` lines) and run again; file left unchanged"
        );
    }
    Ok(())
}

/// `println!` to stdout that returns the write's error instead of panicking: a reader that
/// went away (`gitseal … | head -1`) ends the command quietly (main treats a broken pipe
/// as done), as it ends other Unix tools.
///
/// Through anstream: colours reach a terminal only, and never with `NO_COLOR` set.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(anstream::stdout().lock(), $($arg)*)
    }};
}
pub(crate) use outln;

/// How a problem is marked on a terminal.
pub const PROBLEM: anstyle::Style = anstyle::AnsiColor::Red.on_default().bold();
/// How a warning is marked on a terminal.
pub const WARNING: anstyle::Style = anstyle::AnsiColor::Yellow.on_default().bold();
/// How success is marked on a terminal.
pub const GOOD: anstyle::Style = anstyle::AnsiColor::Green.on_default().bold();

pub fn emit(text: &str, to: Option<&Path>) -> Result<()> {
    match to {
        Some(path) => write_atomic(path, text.as_bytes(), None),
        None => {
            let mut out = io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|()| out.flush()).context("cannot write to stdout")
        }
    }
}

/// The directory a file lives in, for repository lookups.
pub fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Directories never worth walking for manifests.
const SKIP_DIRS: &[&str] = &[".git", "target", "node_modules"];

/// Collects `path` if it is a file, or every `.yaml`, `.yml` and `.json` file below it
/// (sorted, skipping `.git`, `target` and `node_modules`) if it is a directory.
pub fn collect_manifests(path: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    collect_files(path, out, &|_| false)
}

/// As [`collect_manifests`], plus the files below `path` that `also` accepts (e.g. a
/// `Kustomization`, which has no extension).
pub fn collect_files(path: &Path, out: &mut Vec<PathBuf>, also: &dyn Fn(&Path) -> bool) -> io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<_> = fs::read_dir(path)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let p = entry.path();
            let skip = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| SKIP_DIRS.contains(&n));
            if p.is_dir() && !skip {
                collect_files(&p, out, also)?;
            } else if p.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
                || (p.is_file() && also(&p))
            {
                out.push(p);
            }
        }
        Ok(())
    } else {
        fs::metadata(path).map(|_| out.push(path.to_path_buf()))
    }
}

/// A one-line progress bar on stderr, shown only on a terminal.
pub struct Progress {
    verb: &'static str,
    total: usize,
    done: std::cell::Cell<usize>,
    visible: bool,
}

impl Progress {
    pub fn new(verb: &'static str, total: usize) -> Progress {
        Progress { verb, total, done: std::cell::Cell::new(0), visible: std::io::stderr().is_terminal() && total > 0 }
    }

    pub fn advance(&self, n: usize) {
        self.done.set(self.done.get() + n);
        if self.visible {
            let width = 30;
            let filled = self.done.get() * width / self.total.max(1);
            let bar = format!("{}{}", "#".repeat(filled), ".".repeat(width - filled));
            let _ = write!(std::io::stderr(), "\r{} [{bar}] {}/{}", self.verb, self.done.get(), self.total);
        }
    }

    pub fn finish(&self) {
        if self.visible {
            let _ = writeln!(std::io::stderr());
        }
    }
}
