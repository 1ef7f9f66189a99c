//! A Git server a GitOps engine pulls from over smart HTTP, as it would from a forge: the
//! real `git http-backend` (Debian's git) run as a CGI program behind a minimal HTTP/1.1
//! server on loopback. Read-only: tests push to the bare repositories under its root with
//! plain `git push <path>`, as a developer's push lands on the forge's disk.
//!
//! ```text
//!  test ── git push /root/app.git ──▶ root/app.git (bare)
//!                                          ▲ GIT_PROJECT_ROOT
//!  engine ── GET/POST http://127.0.0.1:port/app.git/… ──▶ GitServer ──CGI──▶ git http-backend
//! ```
//!
//! [`GitServer::stop`] and [`GitServer::start_on`] take it down and bring it back on the
//! same address, for tests of an engine outliving its Git server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::Error;

/// Largest request head (request line and headers) served.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body served (an upload-pack negotiation is a few KiB).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// How long a connection may stay silent before it is dropped.
const IDLE: Duration = Duration::from_secs(30);

/// A running Git smart-HTTP server; stopped when dropped.
#[derive(Debug)]
pub struct GitServer {
    root: PathBuf,
    address: SocketAddr,
    stopping: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl GitServer {
    /// Serves the bare repositories under `root` on a free loopback port.
    ///
    /// # Errors
    /// [`Error::GitServer`] when no port can be bound or `git http-backend` is missing.
    pub fn start(root: &Path) -> Result<GitServer, Error> {
        GitServer::start_on(root, SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves the bare repositories under `root` on `address` (e.g. the address of a
    /// server stopped a moment ago, so that the engine's URLs stay valid).
    ///
    /// # Errors
    /// [`Error::GitServer`] when `address` cannot be bound or `git http-backend` is
    /// missing.
    pub fn start_on(root: &Path, address: SocketAddr) -> Result<GitServer, Error> {
        let backend = backend()?;
        let listener =
            TcpListener::bind(address).map_err(|e| Error::GitServer(format!("cannot bind {address}: {e}")))?;
        let address = listener.local_addr().map_err(|e| Error::GitServer(e.to_string()))?;
        listener.set_nonblocking(true).map_err(|e| Error::GitServer(e.to_string()))?;
        let stopping = Arc::new(AtomicBool::new(false));
        let root = root.to_path_buf();
        let accept = {
            let (stopping, root) = (Arc::clone(&stopping), root.clone());
            std::thread::spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, peer)) => {
                            let (root, backend) = (root.clone(), backend.clone());
                            std::thread::spawn(move || {
                                // A client that hangs up mid-request ends its own thread only.
                                let _ = serve(stream, peer, &root, &backend);
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        };
        Ok(GitServer { root, address, stopping, accept: Some(accept) })
    }

    /// The URL of the repository `name` (a directory `name` under the root, e.g.
    /// `app.git`).
    #[must_use]
    pub fn url(&self, name: &str) -> String {
        format!("http://{}/{name}", self.address)
    }

    /// Where it listens.
    #[must_use]
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The directory holding its repositories.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Stops accepting connections and waits until the port is closed (requests already
    /// being served finish on their own); [`GitServer::start_on`] with [`Self::address`]
    /// brings it back.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        self.shut();
    }
}

/// Makes a bare repository `name` under `root` whose default branch is `main`.
///
/// # Errors
/// [`Error::GitServer`] when `git init` fails.
pub fn init_bare(root: &Path, name: &str) -> Result<PathBuf, Error> {
    let path = root.join(name);
    let out = Command::new("git")
        .args(["init", "--quiet", "--bare", "--initial-branch=main"])
        .arg(&path)
        .output()
        .map_err(|e| Error::GitServer(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(Error::GitServer(format!(
            "git init --bare {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(path)
}

/// The path of `git http-backend`, from `git --exec-path`.
fn backend() -> Result<PathBuf, Error> {
    let out = Command::new("git")
        .arg("--exec-path")
        .output()
        .map_err(|e| Error::GitServer(format!("cannot run git (Debian package git): {e}")))?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("git-http-backend");
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::GitServer(format!("{} is missing (Debian package git)", path.display())))
    }
}

/// One request on `stream`, answered by one run of `git http-backend`; the connection is
/// closed after the response (no keep-alive to get wrong).
fn serve(stream: TcpStream, peer: SocketAddr, root: &Path, backend: &Path) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IDLE))?;
    stream.set_write_timeout(Some(IDLE))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let Some(request) = read_request(&mut reader)? else {
        return respond(&mut writer, "400 Bad Request", b"malformed request\n");
    };
    let (path, query) = request.target.split_once('?').unwrap_or((&request.target, ""));
    if path.split('/').any(|segment| segment == "..") {
        return respond(&mut writer, "403 Forbidden", b"no\n");
    }
    let mut cgi = Command::new(backend);
    cgi.env_clear()
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &request.method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_ADDR", peer.ip().to_string())
        .env("CONTENT_LENGTH", request.body.len().to_string())
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("GATEWAY_INTERFACE", "CGI/1.1");
    for (header, variable) in [
        ("content-type", "CONTENT_TYPE"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "HTTP_GIT_PROTOCOL"),
    ] {
        if let Some(value) = request.header(header) {
            cgi.env(variable, value);
        }
    }
    let mut child = cgi.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    let body = request.body;
    let stdin = child.stdin.take();
    // Fed from another thread: the backend may answer before it has read everything.
    let feeder = std::thread::spawn(move || stdin.map(|mut pipe| pipe.write_all(&body)));
    let mut output = BufReader::new(child.stdout.take().ok_or_else(|| std::io::Error::other("no stdout"))?);
    let mut status = "200 OK".to_owned();
    let mut headers = String::new();
    loop {
        let mut line = String::new();
        if output.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        match line.split_once(':') {
            Some((name, value)) if name.eq_ignore_ascii_case("status") => value.trim().clone_into(&mut status),
            _ => {
                headers.push_str(line);
                headers.push_str("\r\n");
            }
        }
    }
    write!(writer, "HTTP/1.1 {status}\r\n{headers}Connection: close\r\n\r\n")?;
    std::io::copy(&mut output, &mut writer)?;
    let _ = feeder.join();
    child.wait()?;
    writer.flush()
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Reads one request: its head within [`MAX_HEAD`] and its body (by `Content-Length` or
/// chunked) within [`MAX_BODY`]; `None` when it is not HTTP/1.x or over a bound.
fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<Request>> {
    let mut head = 0;
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader.by_ref().take((MAX_HEAD - head) as u64).read_line(&mut line)?;
        head += n;
        if n == 0 || head >= MAX_HEAD {
            return Ok(None);
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            break;
        }
        lines.push(line);
    }
    let mut first = lines.first().map(|l| l.split(' ')).into_iter().flatten();
    let (Some(method), Some(target), Some(version)) = (first.next(), first.next(), first.next()) else {
        return Ok(None);
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Ok(None);
    }
    let headers: Vec<(String, String)> = lines[1..]
        .iter()
        .filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())))
        .collect();
    let mut request = Request { method: method.to_owned(), target: target.to_owned(), headers, body: Vec::new() };
    if request.header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.by_ref().take(64).read_line(&mut size)?;
            let size = size.trim().split(';').next().unwrap_or_default();
            let Ok(size) = usize::from_str_radix(size, 16) else { return Ok(None) };
            if request.body.len() + size > MAX_BODY {
                return Ok(None);
            }
            if size == 0 {
                // Trailers, if any, end with an empty line.
                let mut line = String::new();
                while reader.by_ref().take(MAX_HEAD as u64).read_line(&mut line)? > 2 {
                    line.clear();
                }
                break;
            }
            let start = request.body.len();
            request.body.resize(start + size, 0);
            reader.read_exact(&mut request.body[start..])?;
            let mut crlf = [0; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else if let Some(length) = request.header("content-length") {
        let Ok(length) = length.parse::<usize>() else { return Ok(None) };
        if length > MAX_BODY {
            return Ok(None);
        }
        request.body.resize(length, 0);
        reader.read_exact(&mut request.body)?;
    }
    Ok(Some(request))
}

fn respond(writer: &mut impl Write, status: &str, body: &[u8]) -> std::io::Result<()> {
    write!(writer, "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
    writer.write_all(body)?;
    writer.flush()
}
