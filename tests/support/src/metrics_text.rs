//! Prometheus/OpenMetrics text, as the API server and the controller serve on `/metrics`.

use std::collections::BTreeMap;

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Prometheus/OpenMetrics text → samples (comments skipped; label values unescaped).
pub fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => continue,
        };
        let mut labels = BTreeMap::new();
        let mut rest = rest;
        if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices();
            let mut key = String::new();
            let mut end = body.len();
            'labels: while let Some((_, c)) = chars.next() {
                match c {
                    '}' => {
                        end = chars.next().map_or(body.len(), |(i, _)| i);
                        break 'labels;
                    }
                    ',' | ' ' => {}
                    '=' => {
                        let mut value = String::new();
                        let _ = chars.next(); // opening quote
                        while let Some((_, c)) = chars.next() {
                            match c {
                                '\\' => match chars.next() {
                                    Some((_, 'n')) => value.push('\n'),
                                    Some((_, other)) => value.push(other),
                                    None => {}
                                },
                                '"' => break,
                                other => value.push(other),
                            }
                        }
                        labels.insert(std::mem::take(&mut key), value);
                    }
                    other => key.push(other),
                }
            }
            rest = &body[end..];
        }
        if let Some(value) = rest.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()) {
            out.push(Sample { name: name.to_owned(), labels, value });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_with_and_without_labels() {
        let text = "# HELP x\nup 1\nreq_total{verb=\"GET\",code=\"200\"} 42\nq{a=\"x\\\"y\"} 2.5\n";
        let samples = parse_metrics(text);
        assert_eq!(samples.len(), 3);
        assert_eq!((samples[0].name.as_str(), samples[0].value), ("up", 1.0));
        assert_eq!(samples[1].labels.get("verb").map(String::as_str), Some("GET"));
        assert_eq!(samples[1].value, 42.0);
        assert_eq!(samples[2].labels.get("a").map(String::as_str), Some("x\"y"));
    }
}
