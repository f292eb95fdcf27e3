//! The sandbox's fixed timeline, shared by its listings and its content calls: when item 0
//! happened, and the range of Gmail's history ids. Test double only.

/// Gmail history ids run from `GMAIL_OLDEST` (older is "too old": 404) to this.
pub const GMAIL_LATEST: u64 = 10_000;
pub(crate) const GMAIL_OLDEST: u64 = 9_000;
/// Item `i` happened at `TS0 + i` (Unix seconds).
pub(crate) const TS0: u64 = 1_700_000_000;
