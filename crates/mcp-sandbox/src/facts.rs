//! What each platform's OAuth server does, written down from the platforms' own documentation
//! (the address beside each row) and never read from the connectors: how the token endpoint
//! takes the client's credentials, what separates scopes in the authorize URL, how long access
//! tokens live, and what a refresh answers. The sandbox behaves by this table, so a connector
//! that disagrees with a platform's docs fails against the sandbox too.
//! Test double only: nothing here is a production setting.

use mcp_platforms::connectors::Platform;

/// How the token endpoint accepts the client's id and secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientForm {
    /// HTTP Basic only.
    Basic,
    /// In the form body only.
    Body,
    /// Either.
    Either,
}

/// What a `refresh_token` grant answers, and what becomes of the refresh token it spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// No refresh token is ever issued (the access token does not expire).
    None,
    /// A new access token only; the refresh token stays valid.
    Reusable,
    /// A new access token and a new refresh token; the spent one stays valid until it expires.
    NewPairOldValid,
    /// A new access token and a new refresh token; the spent one is dead at once.
    Rotating,
}

/// One platform's OAuth server.
#[derive(Debug, Clone, Copy)]
pub struct OAuthFacts {
    pub client: ClientForm,
    /// What separates scopes in the authorize URL's `scope`.
    pub scope_separator: char,
    /// Lifetime of an access token in seconds (`None`: it does not expire, and the token
    /// answer has no `expires_in`).
    pub access_ttl: Option<u64>,
    pub refresh: Refresh,
    /// Whether the authorize endpoint takes a PKCE S256 challenge.
    pub pkce: bool,
}

/// The OAuth facts of a platform; `None` for the API-key and Basic platforms.
pub fn oauth(p: Platform) -> Option<OAuthFacts> {
    let f = match p {
        // https://developers.google.com/identity/protocols/oauth2/web-server#exchange-authorization-code
        // (`expires_in` 3599, a refresh answers no new refresh token), #offline.
        Platform::Gmail => OAuthFacts {
            client: ClientForm::Either,
            scope_separator: ' ',
            access_ttl: Some(3599),
            refresh: Refresh::Reusable,
            pkce: true,
        },
        // https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token
        // (a new refresh token with each refresh; the old one is not revoked),
        // https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#token-lifetime
        // (60–90 minutes).
        Platform::Outlook => OAuthFacts {
            client: ClientForm::Either,
            scope_separator: ' ',
            access_ttl: Some(3600),
            refresh: Refresh::NewPairOldValid,
            pkce: true,
        },
        // https://docs.slack.dev/authentication/installing-with-oauth (comma-separated
        // scopes), https://docs.slack.dev/authentication/using-token-rotation (12 h tokens, a
        // refresh answers a new pair).
        Platform::Slack => OAuthFacts {
            client: ClientForm::Either,
            scope_separator: ',',
            access_ttl: Some(43_200),
            refresh: Refresh::Rotating,
            pkce: false,
        },
        // https://discord.com/developers/docs/topics/oauth2#authorization-code-grant
        // (`expires_in` 604800, a refresh answers a new pair).
        Platform::Discord => OAuthFacts {
            client: ClientForm::Either,
            scope_separator: ' ',
            access_ttl: Some(604_800),
            refresh: Refresh::Rotating,
            pkce: true,
        },
        // https://developers.zoom.us/docs/integrations/oauth/ (HTTP Basic client auth, one
        // hour tokens, the refresh token changes on every refresh).
        Platform::Zoom => OAuthFacts {
            client: ClientForm::Basic,
            scope_separator: ' ',
            access_ttl: Some(3600),
            refresh: Refresh::Rotating,
            pkce: true,
        },
        // https://developers.notion.com/reference/create-a-token (HTTP Basic; the answer
        // names no lifetime), https://developers.notion.com/reference/refresh-a-token
        // ("generating a new access token and new refresh token").
        Platform::Notion => OAuthFacts {
            client: ClientForm::Basic,
            scope_separator: ' ',
            access_ttl: None,
            refresh: Refresh::Rotating,
            pkce: false,
        },
        // https://developer.monday.com/apps/docs/oauth-2-0: the flow of `/oauth2/token`
        // without PKCE issues access tokens that do not expire and no refresh token. (Apps
        // made since OAuth 2.1 became the default use PKCE and expiring tokens:
        // https://developer.monday.com/apps/docs/oauth-2-1; `token` answers that form when
        // the authorize request carried a PKCE challenge.)
        Platform::Monday => OAuthFacts {
            client: ClientForm::Body,
            scope_separator: ' ',
            access_ttl: None,
            refresh: Refresh::None,
            pkce: false,
        },
        _ => return None,
    };
    Some(f)
}
