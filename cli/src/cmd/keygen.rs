//! `gitseal keygen`: a new X25519 identity in the age identity-file format.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use gitseal::{generate_identity, identity_file};
use secrecy::ExposeSecret;

use crate::io;

pub fn keygen(output: Option<&Path>) -> Result<()> {
    let identity = generate_identity();
    let text = identity_file(&identity, &rfc3339_utc(SystemTime::now()));
    let recipient = identity.to_public().to_string();
    match output {
        Some(path) => {
            io::write_new_private(path, text.expose_secret().as_bytes())?;
            println!("{recipient}");
        }
        None => {
            eprintln!("Public key: {recipient}");
            io::emit(text.expose_secret(), None)?;
        }
    }
    Ok(())
}

/// Formats a time as RFC 3339 in UTC, to the second.
fn rfc3339_utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_utc_dates() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        // date -u -d @1709251199 +%FT%TZ → 2024-02-29T23:59:59Z (a leap day)
        assert_eq!(rfc3339_utc(UNIX_EPOCH + Duration::from_secs(1_709_251_199)), "2024-02-29T23:59:59Z");
        assert_eq!(rfc3339_utc(UNIX_EPOCH + Duration::from_secs(4_102_444_800)), "2100-01-01T00:00:00Z");
    }
}
