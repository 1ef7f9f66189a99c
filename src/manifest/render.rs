//! Rendering objects as text: a YAML stream, one JSON document, or one `v1` `List`.

use crate::error::{Error, Result};

/// Output format of rendered objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// YAML documents separated by `---`.
    Yaml,
    /// One JSON object, or a `v1` `List` when there are several.
    Json,
}

/// Renders objects as one `v1` `List` (what a List read in is written back as).
///
/// # Errors
/// [`Error::Render`] if serialization fails.
pub fn render_list<T: serde::Serialize>(objects: &[T], format: OutputFormat) -> Result<String> {
    render(&[List::of(objects)], format)
}

/// A `v1` `List`, its fields in the order Kubernetes prints them.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct List<'a, T> {
    api_version: &'static str,
    kind: &'static str,
    items: &'a [T],
}

impl<'a, T> List<'a, T> {
    fn of(items: &'a [T]) -> List<'a, T> {
        List { api_version: "v1", kind: "List", items }
    }
}

/// Renders objects as one YAML stream or one JSON document.
///
/// # Errors
/// [`Error::Render`] if serialization fails.
pub fn render<T: serde::Serialize>(objects: &[T], format: OutputFormat) -> Result<String> {
    match format {
        OutputFormat::Yaml => {
            let mut out = String::new();
            for (i, o) in objects.iter().enumerate() {
                if i > 0 {
                    out.push_str("---\n");
                }
                // Plain scalars only: base64 values stay one line, diffs stay one line.
                let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
                serde_saphyr::to_fmt_writer_with_options(&mut out, o, options)
                    .map_err(|e| Error::Render(e.to_string()))?;
            }
            Ok(out)
        }
        OutputFormat::Json => {
            let value = match objects {
                [one] => serde_json::to_value(one),
                many => serde_json::to_value(List::of(many)),
            }
            .map_err(|e| Error::Render(e.to_string()))?;
            let mut text = serde_json::to_string_pretty(&value).map_err(|e| Error::Render(e.to_string()))?;
            text.push('\n');
            Ok(text)
        }
    }
}
