//! The deployment as users run it, tested with the real tools: charts/gitseal rendered,
//! linted and installed by helm; its alerts unit-tested by promtool; and, on a real node,
//! deploy/ and the chart running gitseal-controller in its Pods (Pod security, the
//! memory limit, failover, the PodDisruptionBudget, a real Prometheus scrape).
//!
//! One test target, declared by cli/Cargo.toml for the `gitseal` binary it drives as a
//! user does. The tests that need a cluster are ignored, saying so, when none is
//! configured (`dev/cluster/up`; `tests/run` starts both).

mod helm_install;
mod helm_template;
mod helm_values;
mod node_tier;
mod prometheus_rules;
