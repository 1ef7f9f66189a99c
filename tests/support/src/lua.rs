//! Argo CD's resource health checks, run as Argo CD runs them: a Lua script in gopher-lua
//! (the interpreter Argo CD embeds, built by `dev/tools/lua/build`) with the object as
//! the global `obj`, returning `{ status = …, message = … }`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::Error;
use crate::helm::build_go_tool;

/// gopher-lua's `glua`.
#[derive(Debug)]
pub struct Lua {
    glua: PathBuf,
}

/// What a health script returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Healthy, Progressing, Degraded, Suspended, Missing or Unknown.
    pub status: String,
    /// The script's message.
    pub message: String,
}

impl Lua {
    /// Builds glua unless it is cached; `Ok(None)` only when Go is missing and `$CI` is
    /// unset (the caller skips with a note).
    ///
    /// # Errors
    /// [`Error::BuildTool`] when the build fails on a machine with Go, or anywhere in CI.
    pub fn build() -> Result<Option<Lua>, Error> {
        let bin = build_go_tool("dev/tools/lua/build", "glua")?;
        Ok(bin.map(|bin| Lua { glua: bin.join("glua") }))
    }

    /// Runs the health check `script` on `object` (the JSON Argo CD hands it).
    ///
    /// # Errors
    /// [`Error::Lua`] when the script fails or returns no status.
    pub fn health(&self, script: &str, object: &Value) -> Result<Health, Error> {
        let dir = tempfile::tempdir().map_err(|e| Error::Lua(format!("scratch directory: {e}")))?;
        let program = format!(
            "obj = {}\nlocal function check()\n{script}\nend\nlocal hs = check()\nio.write(tostring(hs.status), \"\\n\", tostring(hs.message))\n",
            literal(object)
        );
        let file = dir.path().join("health.lua");
        std::fs::write(&file, program).map_err(|e| Error::Lua(format!("{}: {e}", file.display())))?;
        let out = Command::new(&self.glua)
            .arg(&file)
            .output()
            .map_err(|e| Error::Lua(format!("{}: {e}", self.glua.display())))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(Error::Lua(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr))));
        }
        let (status, message) = stdout.split_once('\n').unwrap_or((&stdout, ""));
        Ok(Health { status: status.to_owned(), message: message.to_owned() })
    }
}

/// `value` as a Lua table constructor, as Argo CD converts objects: objects are tables
/// keyed by string, arrays are sequences from 1, null is nil (the key is left out).
fn literal(value: &Value) -> String {
    match value {
        Value::Null => "nil".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(items) => format!("{{{}}}", items.iter().map(literal).collect::<Vec<_>>().join(", ")),
        Value::Object(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("[{}] = {}", string(k), literal(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

/// A Lua string literal: printable ASCII as is, everything else as decimal byte escapes.
fn string(s: &str) -> String {
    let mut out = String::from("\"");
    for byte in s.bytes() {
        match byte {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(byte));
            }
            0x20..=0x7e => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "\\{byte:03}");
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_keep_nesting_and_escape_what_lua_would_read_otherwise() {
        let value = serde_json::json!({"a": [1, "x\"\\\n"], "n": null, "t": true});
        assert_eq!(literal(&value), r#"{["a"] = {1, "x\"\\\010"}, ["t"] = true}"#);
        assert_eq!(string("é"), "\"\\195\\169\"");
    }
}
