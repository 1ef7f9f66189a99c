//! What the user can type: clap definitions only, no I/O.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use gitseal::Scope;
use gitseal::manifest::OutputFormat;

mod keys;

pub use keys::{KeysCommand, ListFormat, RotateArgs};

/// Keep Kubernetes Secrets in Git, sealed with age to your clusters' keys.
#[derive(Debug, Parser)]
#[command(name = "gitseal", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate an X25519 identity (private key) in the age identity-file format.
    #[command(
        after_help = "Examples:\n  gitseal keygen -w admin-key.txt     # writes 0600, prints the age1… recipient\n  age -d -i admin-key.txt …           # the file works with stock age"
    )]
    Keygen {
        /// Write the identity here (mode 0600, never overwritten); without it, print it to stdout.
        #[arg(short = 'w', long = "output-file", value_name = "FILE", conflicts_with = "public_of")]
        output: Option<PathBuf>,
        /// Print the public key (age1…) of this identity file instead, as age-keygen -y does.
        #[arg(short = 'y', value_name = "IDENTITY_FILE")]
        public_of: Option<PathBuf>,
    },
    /// Seal Secret manifests (YAML or JSON, one or many documents) into SealedSecrets.
    #[command(
        after_help = "Examples:\n  gitseal seal -f secret.yaml -R .gitseal-recipients -w sealed.yaml\n  kubectl create secret generic db --from-file=pw=./pw.txt --dry-run=client -o yaml \\\n    | gitseal seal -r age1…\n  printf %s s3cr3t | gitseal seal --raw -n prod --name db --key pw -r age1…"
    )]
    Seal(SealArgs),
    /// Create a SealedSecret straight from literals and files, like `kubectl create secret generic`.
    #[command(
        after_help = "Example:\n  gitseal create db -n prod --from-file password=./pw.txt --from-file tls.key=./key.pem -w db.yaml\n  gitseal create db -n prod --from-file password=/dev/stdin -w db.yaml  # type it, Ctrl-D\n\n--from-literal puts the value in the process list and the shell history: prefer --from-file."
    )]
    Create(CreateArgs),
    /// Set one value of a SealedSecret file in place; the other values keep their ciphertext.
    ///
    /// The rest of the file stays byte for byte (comments, line ends): a changed value is
    /// written where the old one was, a new key after the last one. Only a SealedSecret
    /// written in flow style ({…}) or with anchors is written anew, with a note.
    #[command(
        after_help = "Examples:\n  printf %s n3w | gitseal set db.yaml password\n  gitseal set db.yaml tls.key --from-file ./key.pem\n  gitseal set --name cache app.yaml password   # a file holding several SealedSecrets"
    )]
    Set {
        /// The SealedSecret file to change.
        file: PathBuf,
        /// The data key to set.
        key: String,
        #[command(flatten)]
        pick: PickArgs,
        /// Read the value from this file instead of stdin (on a terminal, a hidden prompt).
        #[arg(long, value_name = "PATH")]
        from_file: Option<PathBuf>,
        #[command(flatten)]
        values: ValueArgs,
        /// Drop one trailing newline (LF or CRLF) from the value, e.g. from `echo`. Nothing
        /// is stripped otherwise: the value is stored byte for byte.
        #[arg(long)]
        trim_newline: bool,
        #[command(flatten)]
        recipients: RecipientArgs,
    },
    /// Edit a SealedSecret's values in $VISUAL / $EDITOR: changed values are sealed again,
    /// unchanged ones keep their ciphertext, deleted lines remove keys, new lines add them.
    #[command(
        after_help = "Without -i the editor shows <unchanged> placeholders: type a new value to replace one.\nWith -i it shows the values themselves. A value is the text typed (042 stays 042, no stays\nno). A save that cannot be taken reopens the editor with the reason on top; saving it\nunchanged gives up, and nothing is written. Either way they live in a 0600 file in a private\ndirectory in memory ($XDG_RUNTIME_DIR, else /dev/shm), removed when the editor exits, on\nSIGTERM or SIGHUP, and, after a SIGKILL, by the next edit.\n\nEditors keep copies of their own that gitseal cannot remove:\n  vim    swap, undo and backup files: EDITOR='vim -n -i NONE -c \"set noswapfile nobackup nowritebackup noundofile\"'\n  emacs  backup (file~) and auto-save (#file#) files: EDITOR='emacs -Q --eval \"(setq make-backup-files nil auto-save-default nil)\"'\n  nano   a backup only with -B / `set backup`; leave it off\n\nExamples:\n  gitseal edit deploy/db.yaml\n  EDITOR=nano gitseal edit -i admin.txt deploy/db.yaml\n  gitseal edit --name cache deploy/app.yaml     # a file holding several SealedSecrets"
    )]
    Edit {
        /// The SealedSecret file to edit.
        file: PathBuf,
        #[command(flatten)]
        pick: PickArgs,
        /// Show the current values, opened with this identity file (else placeholders).
        #[arg(short, long, value_name = "IDENTITY_FILE")]
        identity: Option<PathBuf>,
        #[command(flatten)]
        values: ValueArgs,
        #[command(flatten)]
        recipients: RecipientArgs,
    },
    /// Remove one value from a SealedSecret file in place: its lines and its key ids go,
    /// the rest of the file stays byte for byte.
    Unset {
        /// The SealedSecret file to change.
        file: PathBuf,
        /// The data key to remove.
        key: String,
        #[command(flatten)]
        pick: PickArgs,
    },
    /// Recover Secrets from SealedSecrets with a private key (administrators, offline).
    #[command(after_help = "Example:\n  gitseal unseal -i cluster-key.txt -f sealed.yaml")]
    Unseal {
        /// Identity file holding one or more AGE-SECRET-KEY-1… keys.
        #[arg(short, long, value_name = "IDENTITY_FILE")]
        identity: PathBuf,
        /// Input file, or - for stdin.
        #[arg(short, long, default_value = "-")]
        file: String,
        #[arg(short, long, value_enum, default_value_t = Format::Yaml)]
        output: Format,
    },
    /// Show, for every sealed value, its scope, format and the keys it is sealed to (offline).
    #[command(
        after_help = "Key ids marked * are keys the file's repository rule (or -R) lists.\n\nExamples:\n  gitseal inspect deploy/prod/db.yaml\n  gitseal inspect -o json deploy/"
    )]
    Inspect {
        /// Files and directories (walked recursively for .yaml, .yml and .json).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Recipients files naming the known keys (default: each file's repository rule).
        #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
        recipients_files: Vec<PathBuf>,
        /// Also name the cluster's keys (published, active, retired) among the key ids, from
        /// the keys the controller publishes.
        #[arg(long)]
        cluster: bool,
        #[command(flatten)]
        cluster_args: ClusterArgs,
        #[arg(short, long, value_enum, default_value_t = Report::Human)]
        output: Report,
    },
    /// Check files and directories offline: sealed files well-formed, no plaintext Secret committed.
    #[command(
        after_help = "Kustomizations are followed (local resources, bases, components; no kustomize binary):\na namePrefix, nameSuffix or namespace that moves a SealedSecret away from where its values\nare sealed for fails the check.\n\nWithout a key verify sees each value's header, its scope stanza, its payload's framing and\nthat the payload is at least as long as its own header. It cannot see a value cut by fewer\nbytes than the value holds, or altered: only opening it tells (gitseal unseal -i KEY, or the\ncontroller's DecryptionFailed).\n\nExamples:\n  gitseal verify deploy/            # in CI: exit 1 on any problem\n  gitseal verify -R .gitseal-recipients -o json ."
    )]
    Verify {
        /// Files and directories (walked recursively for .yaml, .yml, .json and Kustomization files).
        #[arg(default_value = ".")]
        paths: Vec<PathBuf>,
        /// Recipients files listing the keys values must be sealed to (default: for each
        /// file, the .gitseal-recipients nearest to it, if any).
        #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
        recipients_files: Vec<PathBuf>,
        /// Skip files whose path matches this glob (`*` within a directory, `**` across, a
        /// trailing `/` a directory, as in .gitignore); repeatable. A .gitsealignore (one glob
        /// per line) beside or above a path adds more.
        #[arg(long, value_name = "GLOB")]
        exclude: Vec<String>,
        /// Pass when no file is left to check (otherwise a failure: a wrong path or an
        /// exclude that matches everything would pass silently).
        #[arg(long)]
        allow_empty: bool,
        #[arg(short, long, value_enum, default_value_t = Report::Human)]
        output: Report,
    },
    /// Print the recipients new seals should use, fetched from the cluster (age recipients file).
    #[command(
        after_help = "Examples:\n  gitseal fetch-key -w .gitseal-recipients     # commit it for offline sealing; a failed fetch leaves the file as it was\n  gitseal seal -R <(gitseal fetch-key --context prod) -f secret.yaml"
    )]
    FetchKey {
        /// Write to this file (atomically: a failed fetch leaves it as it was) instead of
        /// stdout. `> FILE` would empty the file before the fetch even starts.
        #[arg(short = 'w', long = "output-file", value_name = "FILE")]
        write: Option<PathBuf>,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Re-encrypt SealedSecret files to the cluster's published key (the controller does it; no plaintext leaves it).
    #[command(
        after_help = "Examples:\n  gitseal rotate && gitseal reseal deploy/     # then commit, apply, and retire the old key\n  gitseal reseal -R break-glass.txt .          # keep a break-glass recipient the values already had"
    )]
    Reseal {
        /// Files and directories (walked recursively for .yaml, .yml and .json).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Public keys to keep where values were already sealed to them (default: the
        /// .gitseal-recipients nearest to each file, if any).
        #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
        recipients_files: Vec<PathBuf>,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Re-seal files offline to the recipients their repository rule now lists, with a key that opens the values (sops' updatekeys).
    #[command(
        after_help = "After a .gitseal.yaml rule (or a .gitseal-recipients file) gains or loses a recipient: each\nvalue whose key ids are not exactly the file's recipients (what seal and set seal it to, what\nverify checks) is opened with -i and sealed again to them, for the place its own payload says it\nwas sealed for (never widened). Values already current keep their bytes; the file keeps its\ncomments. A file with a value the key cannot open is named and left unchanged; the others\nproceed, and the exit code is 1.\n\nupdatekeys, not `reseal --offline`: it needs a private key and handles plaintext, while reseal\nasks the controller, and no plaintext leaves the cluster; sops users know the name.\n\nExamples:\n  gitseal updatekeys -i ~/break-glass.txt --dry-run envs/\n  gitseal updatekeys -i ~/break-glass.txt envs/ && gitseal verify ."
    )]
    Updatekeys {
        /// Files and directories (walked recursively for .yaml, .yml and .json).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Identity file holding a key (AGE-SECRET-KEY-1…) that opens the values.
        #[arg(short, long, value_name = "IDENTITY_FILE")]
        identity: PathBuf,
        /// Open and seal everything, say what would change, and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Rewrite bitnami sealed-secrets SealedSecrets as gitseal ones, in place (offline, with the incumbent's keys).
    #[command(
        after_help = "Values are opened with the incumbent's private keys and sealed to each file's recipients (-r/-R, else the\nrepository's); scope, labels, annotations, type and immutability are kept. Anything without a faithful\nequivalent is refused, and that file left unchanged. See docs/migrating-from-sealed-secrets.md.\n\nExamples:\n  kubectl get secret -n kube-system -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml > bitnami-keys.yaml\n  gitseal migrate --bitnami-keys bitnami-keys.yaml --dry-run deploy/\n  gitseal migrate --bitnami-keys bitnami-keys.yaml deploy/ && shred -u bitnami-keys.yaml"
    )]
    Migrate(MigrateArgs),
    /// Rotate the cluster's key: gitseal-controller creates a new key and publishes it at once.
    #[command(
        after_help = "Older keys keep unsealing. The request is a KeyRotation object in the controller's namespace,\nso RBAC decides who may rotate and the objects are the audit trail.\n\nExamples:\n  gitseal rotate --reason \"yearly rotation\"\n  gitseal rotate && gitseal fetch-key -w .gitseal-recipients && gitseal reseal ."
    )]
    Rotate(RotateArgs),
    /// Manage the cluster's keys: list, retire, back up (export) and restore (import).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Write a starter .gitseal.yaml (repository rules: recipients, scope, namespace per path) here.
    #[command(
        after_help = "Rules are matched in order against each file's path relative to the .gitseal.yaml; the first\nmatch gives its recipients, default scope and default namespace. Flags always win.\n\nExamples:\n  gitseal fetch-key -w .gitseal-recipients && gitseal init"
    )]
    Init,
    /// Rewrite gitseal objects of an older API version (gitseal.dev/v1alpha1) as gitseal.dev/v1, in place.
    #[command(
        after_help = "Only each object's apiVersion changes: the sealed values, comments and other documents stay\nas they are, so the diff is one line per object. v1alpha1 is still served and read; verify\nwarns about it.\n\nExamples:\n  gitseal convert .\n  gitseal convert --check k8s/    # CI: exit 1 while anything is left to convert"
    )]
    Convert {
        /// Files and directories (walked recursively for .yaml, .yml and .json files).
        #[arg(default_value = ".")]
        paths: Vec<PathBuf>,
        /// Change nothing; list what would change and exit 1 if anything would.
        #[arg(long)]
        check: bool,
    },
    /// Print the version, the commit, the sealed-value formats read and written, and the API version.
    #[command(
        after_help = "The same as --version; -o json for scripts.\n\nExamples:\n  gitseal version\n  gitseal version -o json | jq -r .commit"
    )]
    Version {
        /// `table`: the lines --version prints; `json`: one object.
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        output: ListFormat,
    },
    /// Print a completion script for a shell.
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff), or write one page per command into a directory.
    #[command(after_help = "Examples:\n  gitseal man | man -l -\n  gitseal man --dir /usr/local/share/man/man1")]
    Man {
        /// Write gitseal.1 and a gitseal-COMMAND.1 page per command here.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// Which SealedSecret of a file `set`, `unset` and `edit` change.
#[derive(Debug, Args)]
pub struct PickArgs {
    /// The SealedSecret to change, by metadata.name (or NAMESPACE/NAME), in a file holding
    /// several; needed there, as gitseal never guesses one (not from the file's name either).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// How to reach a cluster: the usual kubeconfig rules.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long)]
    pub context: Option<String>,
    /// Namespace where gitseal-controller runs.
    #[arg(long, default_value = "gitseal-system", env = "GITSEAL_CONTROLLER_NAMESPACE")]
    pub controller_namespace: String,
    /// How long one request to the API server may take: 30s, 2m, … (0: no limit).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_timeout)]
    pub request_timeout: std::time::Duration,
}

fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("{text:?} is not a duration like 30s or 2m"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{text:?}: the unit must be s, m or h")),
    };
    Ok(std::time::Duration::from_secs(secs))
}

#[derive(Debug, Args)]
pub struct RecipientArgs {
    /// Seal to this age recipient (age1…); repeatable.
    #[arg(short = 'r', long = "recipient", value_name = "RECIPIENT")]
    pub recipients: Vec<String>,
    /// Seal to the recipients in this age recipients file; repeatable. Without -r/-R, the
    /// repository decides, from the file written (-w, or the file set edits; for stdout, the
    /// current directory) up to the repository root: the first rule of the nearest
    /// .gitseal.yaml whose path matches, else the nearest .gitseal-recipients.
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    pub recipients_files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    #[arg(short, long, value_enum, default_value_t = Format::Yaml)]
    pub output: Format,
    /// Write to this file (atomically) instead of stdout.
    #[arg(short = 'w', long = "output-file", visible_alias = "write", value_name = "FILE")]
    pub write: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SealArgs {
    /// Input file, or - for stdin.
    #[arg(short, long, default_value = "-")]
    pub file: String,
    #[command(flatten)]
    pub recipients: RecipientArgs,
    /// Where values may be unsealed (default: the repository rule's scope, else strict).
    #[arg(long, value_enum)]
    pub scope: Option<ScopeArg>,
    /// Namespace for Secrets that do not name one (must agree with those that do; default:
    /// the repository rule's namespace, else the kubeconfig context's, as kubectl would).
    #[arg(short, long)]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub out: OutputArgs,
    /// Seal one value (from stdin or --from-file) and print its base64 sealed form.
    #[arg(long, requires = "key")]
    pub raw: bool,
    /// With --raw: the SealedSecret's name.
    #[arg(long)]
    pub name: Option<String>,
    /// With --raw: the data key.
    #[arg(long)]
    pub key: Option<String>,
    /// With --raw: read the value from this file instead of stdin.
    #[arg(long, value_name = "PATH", requires = "raw")]
    pub from_file: Option<PathBuf>,
    /// With --raw: drop one trailing newline (LF or CRLF) from the value, e.g. from `echo`.
    #[arg(long, requires = "raw")]
    pub trim_newline: bool,
    #[command(flatten)]
    pub values: ValueArgs,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Files and directories (walked recursively for .yaml, .yml and .json).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The incumbent's private keys: its users' backup (`kubectl get secret -l
    /// sealedsecrets.bitnami.com/sealed-secrets-key -o yaml`), a Secret, or PEM; repeatable.
    #[arg(long, value_name = "FILE", required = true)]
    pub bitnami_keys: Vec<PathBuf>,
    #[command(flatten)]
    pub recipients: RecipientArgs,
    /// Namespace for SealedSecrets that name none (default: the repository rule's).
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Open and seal everything, report, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(short, long, value_enum, default_value_t = Report::Human)]
    pub output: Report,
}

/// The one rule for the values a command seals: an empty value is refused unless asked
/// for (set, edit, create, seal and seal --raw alike).
#[derive(Debug, Clone, Copy, Args)]
pub struct ValueArgs {
    /// Store empty values (refused otherwise: usually a mistake, e.g. `printf '' |` or
    /// `--from-literal key=`).
    #[arg(long)]
    pub allow_empty: bool,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Name of the Secret.
    pub name: String,
    /// Namespace (default: the repository rule's, else the kubeconfig context's, as kubectl would).
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// KEY=VALUE; repeatable. The value shows in the process list and the shell history:
    /// prefer --from-file (KEY=/dev/stdin reads it from the terminal).
    #[arg(long, value_name = "KEY=VALUE")]
    pub from_literal: Vec<String>,
    /// [KEY=]PATH; the key defaults to the file's name; repeatable.
    #[arg(long, value_name = "[KEY=]PATH")]
    pub from_file: Vec<String>,
    #[command(flatten)]
    pub values: ValueArgs,
    /// Secret type, e.g. kubernetes.io/tls.
    #[arg(long = "type", default_value = "Opaque")]
    pub type_: String,
    /// Where values may be unsealed (default: the repository rule's scope, else strict).
    #[arg(long, value_enum)]
    pub scope: Option<ScopeArg>,
    #[command(flatten)]
    pub recipients: RecipientArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScopeArg {
    Strict,
    NamespaceWide,
    ClusterWide,
}

impl From<ScopeArg> for Scope {
    fn from(s: ScopeArg) -> Scope {
        match s {
            ScopeArg::Strict => Scope::Strict,
            ScopeArg::NamespaceWide => Scope::NamespaceWide,
            ScopeArg::ClusterWide => Scope::ClusterWide,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

impl From<Format> for OutputFormat {
    fn from(f: Format) -> OutputFormat {
        match f {
            Format::Yaml => OutputFormat::Yaml,
            Format::Json => OutputFormat::Json,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Report {
    Human,
    Json,
}
