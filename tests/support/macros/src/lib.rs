//! `#[needs_cluster]` marks a test that needs the local control plane, and
//! `#[needs_cluster(node)]` one that needs the cluster with a node. When the kubeconfig
//! variable is unset at build time the test is ignored with a one-line reason, so that
//! `cargo test` on a fresh checkout passes and says what it skipped; `tests/run` sets both
//! variables and runs everything.
//!
//! ```text
//!  #[needs_cluster]            GITSEAL_KUBECONFIG set?      yes ─▶ the test as written
//!  #[tokio::test]          ─▶                               no  ─▶ + #[ignore = "needs …"]
//!  async fn restores() {…}     (option_env! in the output: cargo rebuilds when it changes)
//! ```
//!
//! Plain token handling, no parser crate: the attribute only inserts tokens.

use proc_macro::{Delimiter, TokenStream, TokenTree};

/// Ignores the test, saying why, unless a cluster is configured (see the crate docs).
#[proc_macro_attribute]
pub fn needs_cluster(attr: TokenStream, item: TokenStream) -> TokenStream {
    let (var, what, start) = match attr.to_string().trim() {
        "" => ("GITSEAL_KUBECONFIG", "the local control plane", "dev/cluster/up"),
        "node" => {
            ("GITSEAL_NODE_KUBECONFIG", "a cluster with a node", "GITSEAL_CLUSTER_NAME=node dev/cluster/up --node")
        }
        other => return error(&format!("#[needs_cluster] takes nothing or `node`, not `{other}`")),
    };
    let configured = std::env::var_os(var).is_some_and(|v| !v.is_empty());
    // The variable read through option_env!, so that rustc records it and cargo rebuilds
    // the test when it is set or unset.
    let mut out = parse(&format!("const _: ::core::option::Option<&str> = ::core::option_env!({var:?});"));
    let mut tokens = item.into_iter().peekable();
    // The item's own attributes first (#[tokio::test] among them), so that the test
    // attribute's expansion carries the #[ignore] inserted after them.
    while let Some(TokenTree::Punct(p)) = tokens.peek() {
        if p.as_char() != '#' {
            break;
        }
        out.extend(tokens.next());
        match tokens.next() {
            Some(group @ TokenTree::Group(_)) if matches!(&group, TokenTree::Group(g) if g.delimiter() == Delimiter::Bracket) =>
            {
                out.extend([group]);
            }
            _ => return error("#[needs_cluster] expects a test function"),
        }
    }
    if !configured {
        out.extend(parse(&format!("#[ignore = \"needs {what}: set {var} ({start} prints it; tests/run does both)\"]")));
    }
    out.extend(tokens);
    out
}

fn parse(code: &str) -> TokenStream {
    code.parse().unwrap_or_default()
}

fn error(message: &str) -> TokenStream {
    parse(&format!("::core::compile_error!({message:?});"))
}
