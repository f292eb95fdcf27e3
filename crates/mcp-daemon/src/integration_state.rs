//! The states of an integration and what each allows, as one type. Transitions are made only
//! by `crate::integrations` (through `mcp.transition_integration_state`, which enforces the
//! state machine of migration 0002).

/// The states of `core.integrations.state` (the table's CHECK and the state machine of
/// migration 0002 list the same nine). What each state allows has one name, here and as an SQL
/// predicate of migration 0008 (`core.state_in_service(state)`, …); a test checks both agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntegrationState {
    Pending,
    Authorizing,
    Connected,
    Active,
    Error,
    Degraded,
    Revoked,
    Expired,
    Deleted,
}

impl IntegrationState {
    pub const ALL: [IntegrationState; 9] = [
        IntegrationState::Pending,
        IntegrationState::Authorizing,
        IntegrationState::Connected,
        IntegrationState::Active,
        IntegrationState::Error,
        IntegrationState::Degraded,
        IntegrationState::Revoked,
        IntegrationState::Expired,
        IntegrationState::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationState::Pending => "PENDING",
            IntegrationState::Authorizing => "AUTHORIZING",
            IntegrationState::Connected => "CONNECTED",
            IntegrationState::Active => "ACTIVE",
            IntegrationState::Error => "ERROR",
            IntegrationState::Degraded => "DEGRADED",
            IntegrationState::Revoked => "REVOKED",
            IntegrationState::Expired => "EXPIRED",
            IntegrationState::Deleted => "DELETED",
        }
    }

    pub fn parse(s: &str) -> Option<IntegrationState> {
        IntegrationState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
    }

    /// In service: health-checked, its tokens refreshed (`core.state_in_service`).
    pub fn in_service(self) -> bool {
        use IntegrationState::*;
        matches!(self, Connected | Active | Degraded | Error)
    }

    /// A platform call may be made with its credentials now (`core.state_callable`).
    pub fn callable(self) -> bool {
        use IntegrationState::*;
        matches!(self, Connected | Active | Degraded)
    }

    /// Its records are synced (`core.state_synced`).
    pub fn synced(self) -> bool {
        use IntegrationState::*;
        matches!(self, Active | Degraded)
    }

    /// Its webhook subscriptions are kept renewed (`core.state_subscribed`).
    pub fn subscribed(self) -> bool {
        use IntegrationState::*;
        matches!(self, Active | Degraded | Error)
    }

    /// Its synced items are kept (`core.state_keeps_items`, migration 0017): every state but
    /// DELETED, whose move erases them.
    pub fn keeps_items(self) -> bool {
        self != IntegrationState::Deleted
    }

    /// The platform can still withdraw its access (`core.state_revocable`).
    pub fn revocable(self) -> bool {
        use IntegrationState::*;
        matches!(self, Connected | Active | Degraded | Error | Expired)
    }
}

impl std::fmt::Display for IntegrationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
