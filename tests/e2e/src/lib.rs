//! Test support for the end-to-end tests: clients for the local control plane that
//! `tests/cluster/up` starts (etcd + kube-apiserver + kube-controller-manager; a node only
//! with `--node`, see [`node`]).
//!
//! ```text
//!  tests/cluster/up ──▶ tests/cluster/.state/kubeconfig (admin, O=system:masters)
//!                                   │   or $GITSEAL_KUBECONFIG
//!                                   ▼
//!                        Cluster::connect() ── admin kube::Client
//!                          ├─ fresh_namespace("prefix")        → "prefix-x7k2q"
//!                          ├─ install_crd(path)                → Established CRD
//!                          └─ service_account_client(ns, sa)   → kube::Client with a
//!                             service_account_kubeconfig(..)     TokenRequest token,
//!                             write_service_account_kubeconfig   under that SA's RBAC
//! ```
//!
//! A test that needs the cluster calls [`Cluster::connect`] and propagates its error:
//! when the control plane is not running the test **fails** with
//! [`Error::ClusterUnavailable`], whose message says to run `tests/cluster/up`. Nothing
//! here skips a test.
//!
//! Namespaces made by [`Cluster::fresh_namespace`] are left in place when the test ends,
//! so a failed test's objects can still be inspected with
//! `kubectl --kubeconfig tests/cluster/.state/kubeconfig`. They carry the label
//! [`E2E_LABEL`]`=true`; `tests/cluster/down` wipes everything.
//!
//! [`bench`] holds what the benchmark binaries (`src/bin/`) share. [`incumbent`] runs the
//! real bitnami sealed-secrets controller and `kubeseal` on the same control plane;
//! [`helm`] runs the real helm on `charts/gitseal`, [`prometheus`] the real promtool on its
//! alerts. [`node`] reaches the control plane with
//! a node (`tests/cluster/up --node`) and the controller's containers on it.

pub mod bench;
mod cluster;
mod command;
pub mod core_dumps;
mod crd;
mod error;
pub mod helm;
mod http;
pub mod incumbent;
pub mod node;
pub mod prometheus;
pub mod prometheus_server;
mod service_account;
mod wait;

pub use cluster::{Cluster, E2E_LABEL, FIELD_MANAGER, KUBECONFIG_ENV, default_kubeconfig_path};
pub use command::{output_with_stdin, succeeded};
pub use crd::workspace_root;
pub use error::Error;
pub use http::{http_get, http_get_at};
pub use service_account::TOKEN_LIFETIME;
pub use wait::eventually;
