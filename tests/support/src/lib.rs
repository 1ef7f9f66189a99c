//! Test support for the end-to-end tests: clients for the local control plane that
//! `dev/cluster/up` starts (etcd + kube-apiserver + kube-controller-manager; a node only
//! with `--node`, see [`node`]).
//!
//! ```text
//!  dev/cluster/up ──▶ dev/cluster/.state/kubeconfig (admin, O=system:masters)
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
//! A test that needs the cluster is marked [`needs_cluster`]: with `GITSEAL_KUBECONFIG`
//! unset it is ignored, saying so (plain `cargo test` on a fresh checkout); with it set,
//! it calls [`Cluster::connect`] and propagates its error, so that a control plane that
//! does not answer **fails** the test with [`Error::ClusterUnavailable`].
//!
//! Namespaces made by [`Cluster::fresh_namespace`] are left in place when the test ends,
//! so a failed test's objects can still be inspected with
//! `kubectl --kubeconfig dev/cluster/.state/kubeconfig`. They carry the label
//! [`E2E_LABEL`]`=true`; `dev/cluster/down` wipes everything.
//!
//! [`seal_all`] and [`create_sealed`] make a workload of SealedSecrets, and
//! [`scrape_apiserver`] counts the API server's requests (the benchmarks in `benches/`
//! share both). [`incumbent`] runs the
//! real bitnami sealed-secrets controller and `kubeseal` on the same control plane;
//! [`helm`] runs the real helm on `charts/gitseal`, [`prometheus`] the real promtool on its
//! alerts; [`flux`] runs Flux's source-controller and kustomize-controller as local processes,
//! [`git_server`] serves bare repositories over smart HTTP to them, and [`lua`] runs Argo
//! CD's health checks in its own Lua.
//! [`node`] reaches the control plane with
//! a node (`dev/cluster/up --node`) and the controller's containers on it.

mod apiserver;
mod cluster;
mod command;
pub mod core_dumps;
mod crd;
mod error;
pub mod flux;
pub mod git_server;
pub mod helm;
mod http;
pub mod incumbent;
pub mod local_controller;
pub mod lua;
mod metrics_text;
pub mod node;
pub mod prometheus;
pub mod prometheus_server;
mod service_account;
mod wait;
mod workload;

pub use apiserver::{Samples, apf_waits, delta, etcd_writes, request_counts, scrape_apiserver, sealing_writes, writes};
pub use cluster::{Cluster, E2E_LABEL, FIELD_MANAGER, KUBECONFIG_ENV, default_kubeconfig_path};
pub use command::{output_with_stdin, succeeded};
pub use crd::workspace_root;
pub use error::Error;
pub use gitseal_test_macros::needs_cluster;
pub use http::{free_port, free_ports, http_get, http_get_at};
pub use metrics_text::{Sample, parse_metrics};
pub use service_account::TOKEN_LIFETIME;
pub use wait::{eventually, poll_until};
pub use workload::{KEYS, create_sealed, first_error, is_ready, name, ready_status, seal_all, value};

/// Label of the Secrets gitseal-controller writes.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=gitseal-controller";
