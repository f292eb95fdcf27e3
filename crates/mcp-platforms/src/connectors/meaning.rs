//! What a verified event can mean for its integration; each platform's connector module reads
//! its own events into it (`event_meaning`), and `webhooks::meaning` asks the right one.

/// What an event means for its integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// The user or an admin withdrew our access.
    Revoked(&'static str),
    /// The event says access was withdrawn, signed only by a secret every customer's events
    /// share: the integration's token is checked at the platform, which moves it to
    /// EXPIRED/REVOKED only if the platform refuses it.
    CheckAccess(&'static str),
    /// The platform removed the subscription the event came by: made again and a sync asked
    /// for. Access was not withdrawn.
    Resubscribe(&'static str),
    /// Something changed at the platform: fetch it.
    Changed,
}
