//! A minimal HTTP client for the controller's endpoints (probes, metrics, keys) in tests
//! and benches, on loopback or, on the node, a Pod's or a Service's address: no TLS, no
//! keep-alive, nothing to configure.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::Error;

/// A loopback port nothing listens on now (the caller's server binds it a moment later).
///
/// # Errors
/// [`Error::FreePort`] when no socket can be bound.
pub fn free_port() -> Result<u16, Error> {
    let [port] = free_ports()?;
    Ok(port)
}

/// `N` distinct loopback ports nothing listens on now (the caller's servers bind them a
/// moment later): all bound at once, so none is handed out twice.
///
/// # Errors
/// [`Error::FreePort`] when no socket can be bound.
pub fn free_ports<const N: usize>() -> Result<[u16; N], Error> {
    let listeners = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").map_err(Error::FreePort))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ports = [0; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr().map_err(Error::FreePort)?.port();
    }
    Ok(ports)
}

/// `GET path` on 127.0.0.1:`port` over HTTP/1.0: (status, body), or (0, "") when nothing
/// answers.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    http_get_at(IpAddr::V4(Ipv4Addr::LOCALHOST), port, path)
}

/// `GET path` on `ip`:`port`, as [`http_get`].
pub fn http_get_at(ip: IpAddr, port: u16, path: &str) -> (u16, String) {
    let address = (ip, port).into();
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(5)) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}
