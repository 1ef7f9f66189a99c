//! What a gitseal binary is and speaks, for `--version`, `gitseal version` and the
//! controller's `gitseal_build_info` metric: one description, so the three agree.

use serde::Serialize;

/// The release and commit a binary was built from, the sealed-value formats it reads and
/// writes, and the API version it writes (and, for the controller, reads and serves).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    /// The workspace version (semver, see the README's "Versions").
    pub version: &'static str,
    /// The commit built, as `cli/build.rs` stamped it ("unknown" outside a checkout).
    pub commit: &'static str,
    /// Header tags of the sealed-value formats opened (docs/FORMAT.md).
    pub formats_read: &'static [&'static str],
    /// Header tag of the format sealed.
    pub format_written: &'static str,
    /// `apiVersion` of the gitseal objects written and stored.
    pub api_version: &'static str,
    /// Older `apiVersion`s still read (and served by the CRDs).
    pub older_api_versions: &'static [&'static str],
}

impl BuildInfo {
    /// This library's formats and API, for a binary of `version` built at `commit`.
    pub const fn new(version: &'static str, commit: &'static str) -> BuildInfo {
        BuildInfo {
            version,
            commit,
            formats_read: &crate::FORMATS_READ,
            format_written: crate::FORMAT_WRITTEN,
            api_version: gitseal_crds::API_VERSION,
            older_api_versions: &gitseal_crds::OLDER_API_VERSIONS,
        }
    }

    /// `0.2.0 (commit 0123456789ab)`, what `-V` prints.
    pub fn short(&self) -> String {
        format!("{} (commit {})", self.version, self.commit)
    }
}

/// The lines `--version` prints: the short form, then the formats and the API.
impl std::fmt::Display for BuildInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.short())?;
        writeln!(f, "sealed values: reads {}; writes {}", self.formats_read.join(" and "), self.format_written)?;
        write!(f, "API: writes {}; also reads {}", self.api_version, self.older_api_versions.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_names_every_format_and_api_version() {
        let info = BuildInfo::new("1.2.3", "0123456789ab");
        let text = info.to_string();
        assert!(text.starts_with("1.2.3 (commit 0123456789ab)\n"), "{text}");
        assert!(text.contains("reads gitseal/v1 and gitseal/v2; writes gitseal/v2"), "{text}");
        assert!(text.contains("API: writes gitseal.dev/v1; also reads gitseal.dev/v1alpha1"), "{text}");
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["formatsRead"], serde_json::json!(["gitseal/v1", "gitseal/v2"]));
        assert_eq!(json["apiVersion"], "gitseal.dev/v1");
    }
}
