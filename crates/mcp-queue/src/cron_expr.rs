//! Cron expressions as the config and the kinds write them: 5 fields (minute precision) or 6–7
//! with seconds first.

use std::str::FromStr;

/// Parses a cron expression of 5 fields (`min hour dom month dow`) or 6–7 (seconds first,
/// optional year).
pub fn parse_cron(expr: &str) -> Result<cron::Schedule, String> {
    let fields = expr.split_whitespace().count();
    let full = match fields {
        5 => format!("0 {expr}"),
        6 | 7 => expr.to_string(),
        n => {
            return Err(format!(
                "`{expr}` has {n} fields: write 5 (minute hour day-of-month month day-of-week, \
                 e.g. \"0 3 * * *\" for 03:00 daily), or 6 with seconds first (7 with a year \
                 last)"
            ))
        }
    };
    cron::Schedule::from_str(&full).map_err(|e| format!("`{expr}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_field_count_says_what_to_write() {
        let e = parse_cron("* * *").expect_err("3 fields");
        assert!(e.contains("has 3 fields") && e.contains("write 5"), "{e}");
        assert!(e.contains("6 with seconds first"), "{e}");
        assert!(parse_cron("0 3 * * *").is_ok());
        assert!(parse_cron("30 0 3 * * *").is_ok());
    }
}
