//! Cron expressions as the config and `jobs/` write them: 5 fields (minute precision) or 6–7
//! with seconds first.

use std::str::FromStr;

/// Parses a cron expression of 5 fields (`min hour dom month dow`) or 6–7 (seconds first,
/// optional year).
pub fn parse_cron(expr: &str) -> Result<cron::Schedule, String> {
    let fields = expr.split_whitespace().count();
    let full = match fields {
        5 => format!("0 {expr}"),
        6 | 7 => expr.to_string(),
        n => return Err(format!("`{expr}` has {n} fields; expected 5, 6 or 7")),
    };
    cron::Schedule::from_str(&full).map_err(|e| format!("`{expr}`: {e}"))
}
