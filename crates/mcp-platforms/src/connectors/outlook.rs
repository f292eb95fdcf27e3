//! Outlook: Microsoft identity platform v2 OAuth, health check `GET /v1.0/me` on Microsoft
//! Graph, and Graph's error form (`{"error": {"code": …}}`; 401 `InvalidAuthenticationToken`
//! means the access token expired). It must never put a token or a body into an error.

use super::event::{str_at, Deletion, Gone, Read, Refusal};
use super::http::Api;
use super::meaning::Meaning;
use super::spec::{Scheme, Spec, Webhooks};
use super::Platform;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::sync::Arc;

use super::base::{connector_impl, Base, ClientAuth, Defaults, OAuthDefaults};
use super::http::{self, RawResponse};
use super::lists::text;
use super::page::{item, Page, PageRequest, SyncItem};
use super::{AuthKind, ConnectorError, Credentials, ErrorType, Identity};

pub fn defaults() -> Defaults {
    Defaults {
        api_base: "https://graph.microsoft.com",
        identity_path: "/v1.0/me",
        api_version: None,
        // Graph: 10,000 requests per 10 minutes per app and mailbox (16.7/s).
        rate: (20.0, 10.0),
        oauth: Some(OAuthDefaults {
            authorize_url: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
            token_url: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
            // Microsoft identity has no token revocation endpoint for OAuth clients.
            revoke_url: None,
            client_auth: ClientAuth::Body,
            // Each refresh returns a new refresh token that should replace the stored one.
            rotates_refresh_tokens: true,
            pkce: true,
            scopes: &["offline_access", "User.Read", "Mail.Read"],
            scope_separator: " ",
            extra_authorize_params: &[("response_mode", "query")],
        }),
    }
}

pub struct Outlook(pub Base);

impl Outlook {
    async fn check(&self, creds: &Credentials) -> Result<Identity, ConnectorError> {
        self.0.identity(creds, "/id", Some("/id"), classify).await
    }
}

connector_impl!(Outlook, AuthKind::OAuth2);

pub fn classify(base: &Base, resp: &RawResponse) -> ConnectorError {
    let body = resp.json().unwrap_or(Value::Null);
    let code = body.pointer("/error/code").and_then(Value::as_str);
    let p = base.platform;
    let t = match (resp.status, code) {
        (401, Some("InvalidAuthenticationToken")) => Some(ErrorType::AuthExpired),
        (_, Some("ErrorAccessDenied" | "Authorization_RequestDenied" | "accessDenied")) => {
            Some(ErrorType::InsufficientScope)
        }
        (_, Some("ApplicationThrottled" | "TooManyRequests" | "activityLimitReached")) => {
            Some(ErrorType::RateLimited)
        }
        (_, Some("syncStateNotFound" | "resyncRequired" | "SyncStateNotFound")) => {
            Some(ErrorType::NotFound)
        }
        _ => None,
    };
    http::coded_or_status(p, resp, t, code)
}

/// The message properties the item model reads, asked in the first delta request: Graph keeps
/// them in its `@odata.nextLink` and `@odata.deltaLink` ("you only need to specify any desired
/// query parameters once upfront"; delta supports `$select` "as in any GET request", `id` is
/// always returned: https://learn.microsoft.com/en-us/graph/api/message-delta). `body` comes
/// as Graph stores it (`contentType` `html` or `text`); no `Prefer:
/// outlook.body-content-type` asks for text, the model turns HTML into text itself.
pub const SELECT: &str = "subject,from,sender,toRecipients,ccRecipients,receivedDateTime,\
sentDateTime,body,bodyPreview,conversationId,webLink";

/// Outlook: the inbox delta query; the cursor is the `@odata.nextLink` (more now) or the
/// `@odata.deltaLink` (caught up). An expired delta link (410, `syncStateNotFound`,
/// `resyncRequired`) is too old. Entries with `@removed` are deleted ids, never items.
pub(super) async fn page(base: &Base, req: PageRequest<'_>) -> Result<Page, ConnectorError> {
    let PageRequest { creds, cursor, .. } = req;
    let p = base.platform;
    let req = match cursor {
        None => {
            let first = format!(
                "{}?$select={SELECT}",
                base.url("/v1.0/me/mailFolders/inbox/messages/delta")
            );
            http::authorize(base.client.get(first), creds)
        }
        Some(link) => {
            let prefix = format!("{}/", base.api_base.trim_end_matches('/'));
            if !link.starts_with(&prefix) {
                return Err(ConnectorError::new(
                    p,
                    ErrorType::BadRequest,
                    None,
                    Some("foreign_link".into()),
                    "delta link points outside the platform",
                ));
            }
            http::authorize(base.client.get(link), creds)
        }
    };
    let resp = base.send(req).await?;
    let code = resp.json().and_then(|b| text(&b, "/error/code"));
    if cursor.is_some()
        && (resp.status == 410
            || matches!(
                code.as_deref(),
                Some("syncStateNotFound" | "resyncRequired" | "SyncStateNotFound")
            ))
    {
        return Err(ConnectorError::cursor_expired(p, &resp));
    }
    let v = http::json_or(p, &resp, |r| classify(base, r))?;
    let (items, deleted) = delta_changes(&v);
    Ok(
        match (text(&v, "/@odata.nextLink"), text(&v, "/@odata.deltaLink")) {
            (Some(next), _) => Page {
                items,
                next_cursor: Some(next),
                done: false,
                deleted,
            },
            (None, delta) => Page {
                items,
                next_cursor: delta,
                done: true,
                deleted,
            },
        },
    )
}

/// A delta answer's `value`: the messages, and the ids of the entries marked `@removed`
/// (`{"id": …, "@removed": {"reason": "deleted"}}`).
fn delta_changes(v: &Value) -> (Vec<SyncItem>, Vec<String>) {
    let mut items = Vec::new();
    let mut deleted = Vec::new();
    for x in v
        .get("value")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if x.get("@removed").is_some() {
            deleted.extend(http::json_id(x, "/id"));
        } else {
            items.extend(item(x, "message", "/id", Some("/receivedDateTime")));
        }
    }
    (items, deleted)
}

/// What a Graph notification means: a `subscriptionRemoved` lifecycle notification asks for a
/// new subscription and a resync of what may have been missed
/// (https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events).
pub fn event_meaning(_event_type: Option<&str>, payload: &Value) -> Meaning {
    let lifecycle = payload
        .get("value")
        .and_then(Value::as_array)
        .and_then(|v| v.first())
        .and_then(|n| n.get("lifecycleEvent"))
        .and_then(Value::as_str);
    match lifecycle {
        Some("subscriptionRemoved") => Meaning::Resubscribe("outlook: subscription removed"),
        _ => Meaning::Changed,
    }
}

/// A Graph subscription to make (https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions).
pub struct NewSubscription<'a> {
    pub notification_url: &'a str,
    pub resource: &'a str,
    pub until: DateTime<Utc>,
    pub client_state: &'a crate::secret::Secret,
}

/// Makes a subscription to created, updated and deleted messages; returns its id and expiry.
pub async fn subscribe(
    api: &Api<'_>,
    s: &NewSubscription<'_>,
) -> Result<(String, DateTime<Utc>), ConnectorError> {
    let p = Platform::Outlook;
    let req = api
        .request(reqwest::Method::POST, "/v1.0/subscriptions")
        .json(&serde_json::json!({
            "changeType": "created,updated,deleted",
            "notificationUrl": s.notification_url,
            "resource": s.resource,
            "expirationDateTime": s.until.to_rfc3339(),
            "clientState": s.client_state.expose(),
        }));
    let resp = http::send(p, req).await?;
    let v = http::ok_json(p, &resp)?;
    match (v.get("id").and_then(Value::as_str), expiry(&v)) {
        (Some(id), Some(e)) => Ok((id.to_string(), e)),
        _ => Err(http::invalid_response(
            p,
            &resp,
            "no id or expirationDateTime",
        )),
    }
}

/// Moves subscription `id`'s expiry to `until` (PATCH); returns the expiry Graph granted.
pub async fn renew(
    api: &Api<'_>,
    id: &str,
    until: DateTime<Utc>,
) -> Result<DateTime<Utc>, ConnectorError> {
    let p = Platform::Outlook;
    let req = api
        .request(reqwest::Method::PATCH, &format!("/v1.0/subscriptions/{id}"))
        .json(&serde_json::json!({"expirationDateTime": until.to_rfc3339()}));
    let resp = http::send(p, req).await?;
    let v = http::ok_json(p, &resp)?;
    expiry(&v).ok_or_else(|| http::invalid_response(p, &resp, "no expirationDateTime"))
}

/// Deletes subscription `id`; one already gone (404) is deleted.
pub async fn unsubscribe(api: &Api<'_>, id: &str) -> Result<(), ConnectorError> {
    let p = Platform::Outlook;
    let resp = http::send(
        p,
        api.request(
            reqwest::Method::DELETE,
            &format!("/v1.0/subscriptions/{id}"),
        ),
    )
    .await?;
    if !resp.is_success() && resp.status != 404 {
        return Err(http::classify_status(p, &resp, None));
    }
    Ok(())
}

fn expiry(v: &Value) -> Option<DateTime<Utc>> {
    v.get("expirationDateTime")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
}

/// Outlook: its connector, and Graph's change notifications, each carrying the subscription's
/// `clientState` (a constant: the deliveries carry no signed time,
/// https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks).
pub const SPEC: Spec = Spec {
    webhooks: Some(Webhooks {
        untimed: true,
        read: read_event,
        meaning: event_meaning,
        meaning_reads_payload: true,
        deletions,
        url_handshake,
        ..Webhooks::signed(Scheme::ClientState)
    }),
    ..Spec::new(
        defaults,
        |b| Arc::new(Outlook(b)),
        |raw, content, _| crate::items::outlook::model(raw, content),
    )
};

/// Notifications carry no event type; the clientState scheme keys them by their notifications.
fn read_event(_payload: &Value, _secret: Option<&[u8]>) -> Result<Read, Refusal> {
    Ok(Read::Event {
        id: None,
        event_type: None,
    })
}

/// Graph's subscription validation: a POST with `?validationToken=…` answered 200 `text/plain`
/// with the token
/// (https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#notificationurl-validation).
fn url_handshake(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "validationToken")
        .map(|(_, v)| v.into_owned())
}

/// The messages a delivery's `deleted` notifications name (by `resourceData.id`, the
/// connector's ids), whatever the event type.
fn deletions(_event_type: Option<&str>, payload: &Value) -> Vec<Deletion> {
    payload
        .get("value")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|n| n.get("changeType").and_then(Value::as_str) == Some("deleted"))
        .filter_map(|n| str_at(n, "/resourceData/id"))
        .map(|id| Deletion {
            gone: Gone::Item(id),
            reason: "outlook: message deleted",
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn removed_entries_are_deleted_ids() {
        let v = json!({"value": [
            {"id": "AAMk1", "receivedDateTime": "2025-01-01T00:00:00Z"},
            {"id": "AAMk2", "@removed": {"reason": "deleted"}},
            {"id": "AAMk3", "@removed": {"reason": "changed"}},
            {"@removed": {"reason": "deleted"}},
        ]});
        let (items, deleted) = delta_changes(&v);
        let ids: Vec<&str> = items.iter().map(|i| i.external_id.as_str()).collect();
        assert_eq!(ids, ["AAMk1"]);
        assert_eq!(deleted, ["AAMk2", "AAMk3"]);
        let (items, deleted) = delta_changes(&json!({"value": "x"}));
        assert!(items.is_empty() && deleted.is_empty());
    }
}
