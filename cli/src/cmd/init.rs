//! `gitseal init`: a starter `.gitseal.yaml` in a directory, never over an existing one.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::io;
use crate::repository::{CONFIG_FILE, REPO_RECIPIENTS};

pub fn init(dir: &Path) -> Result<()> {
    let path = dir.join(CONFIG_FILE);
    let recipients = if dir.join(REPO_RECIPIENTS).is_file() {
        format!("recipientsFile: {REPO_RECIPIENTS}")
    } else {
        format!("recipientsFile: {REPO_RECIPIENTS}   # create it: gitseal fetch-key -w {REPO_RECIPIENTS}")
    };
    let text = format!(
        "# gitseal repository rules. Each file that gitseal seal -w, create -w, set, verify or reseal\n\
         # writes or checks takes the first rule whose `path` matches its path relative to this\n\
         # file: a glob as in .gitignore (`**` any depth, `*` within a directory, `dir/` all\n\
         # below dir), or `pathRegex`, a regular expression matched whole. Command-line flags\n\
         # always win; verify fails on a rule that matches no file.\n\
         #\n\
         #   recipients: [age1…]       # keys to seal to (verify: every one, and no other)\n\
         #   recipientsFile: FILE      # more, from an age recipients file (relative to this file)\n\
         #   scope: strict             # default --scope: strict, namespace-wide or cluster-wide\n\
         #   namespace: NAME           # default namespace for Secrets that name none\n\
         rules:\n\
         \x20 # - path: envs/prod/**\n\
         \x20 #   recipientsFile: keys/prod.txt\n\
         \x20 #   namespace: prod\n\
         \x20 - path: \"**\"\n\
         \x20   {recipients}\n"
    );
    if path.exists() {
        bail!("{} already exists; gitseal init never overwrites it", path.display());
    }
    io::write_atomic(&path, text.as_bytes(), Some(0o644)).with_context(|| format!("{CONFIG_FILE} not written"))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
