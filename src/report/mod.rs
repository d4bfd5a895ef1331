//! report: renders stage outputs for people (text) and programs (JSON, DOT).
//!
//! Input: an [`crate::analysis::Analysis`]. Output: strings; the caller
//! decides where they go (stdout).

pub mod analyze;
pub mod html;
pub mod optimize;
pub mod plan_words;

/// `123456789` → `123.5 MB` (decimal units, as Lambda's limits are quoted).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_bytes() {
        assert_eq!(super::human_bytes(999), "999 B");
        assert_eq!(super::human_bytes(262_144_000), "262.1 MB");
    }
}
