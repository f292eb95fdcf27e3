//! ZeroVoice (Twilio): HTTP Basic `AccountSid:AuthToken`, health check
//! `GET /2010-04-01/Accounts/{AccountSid}.json`, and Twilio's error form
//! `{"code": 20003|20429|…, "status"}`. It must never put the auth token or a body in an error.

use serde_json::Value;
use std::sync::Arc;

use super::base::{connector_impl, Base, Defaults};
use super::event::{first_str, Read, Refusal};
use super::http::{self, RawResponse};
use super::lists::{call, items, no_error, query, text, PAGE_SIZE};
use super::page::{Page, PageRequest};
use super::spec::{Scheme, Spec, Webhooks};
use super::watermark::{self, Listing};
use super::{ratelimit, AuthKind, ConnectorError, Credentials, ErrorType, Identity};

pub fn defaults() -> Defaults {
    Defaults {
        api_base: "https://api.twilio.com",
        identity_path: "/2010-04-01/Accounts/{AccountSid}.json",
        api_version: None,
        // Twilio: no per-second figure for list resources, 100 concurrent requests per
        // account; a 429 (error 20429) snoozes the sync. Stay modest.
        rate: (10.0, 10.0),
        oauth: None,
    }
}

pub struct ZeroVoice(pub Base);

impl ZeroVoice {
    async fn check(&self, creds: &Credentials) -> Result<Identity, ConnectorError> {
        let Credentials::Basic { user, .. } = creds else {
            return Err(ConnectorError::new(
                self.0.platform,
                ErrorType::AuthInvalid,
                None,
                None,
                "Twilio needs Basic credentials (AccountSid and auth token)",
            ));
        };
        // An account SID is `AC` + 32 hex digits; anything else is refused before the call.
        if user.is_empty() || !user.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ConnectorError::new(
                self.0.platform,
                ErrorType::BadRequest,
                None,
                None,
                "malformed account SID",
            ));
        }
        let path = self.0.identity_path.replace("{AccountSid}", user);
        self.0
            .get_identity(&path, creds, &[], "/sid", Some("/sid"), classify)
            .await
    }
}

connector_impl!(ZeroVoice, AuthKind::Basic);

pub fn classify(base: &Base, resp: &RawResponse) -> ConnectorError {
    let body = resp.json().unwrap_or(Value::Null);
    let code = ratelimit::twilio_code(&body);
    let code_s = code.map(|c| c.to_string());
    let mut e = http::classify_status(base.platform, resp, code_s.as_deref());
    match code {
        Some(20003) => e.error_type = ErrorType::AuthInvalid,
        Some(20429) => {
            e.error_type = ErrorType::RateLimited;
            e.retry_after = resp.header_retry_after();
        }
        Some(20404) => e.error_type = ErrorType::NotFound,
        Some(20005) => e.error_type = ErrorType::AuthRevoked,
        _ => {}
    }
    e
}

/// Twilio: the account's recordings created on or after the newest recording's day (the
/// parameter `DateCreated>` with the day as its value, so the URL reads
/// `DateCreated%3E=YYYY-MM-DD`; day granularity) with `next_page_uri` (a path on the API host,
/// carrying the filter) as the page cursor.
pub(super) async fn page(base: &Base, req: PageRequest<'_>) -> Result<Page, ConnectorError> {
    let PageRequest { creds, cursor, .. } = req;
    let p = base.platform;
    let Credentials::Basic { user, .. } = creds else {
        return Err(ConnectorError::new(
            p,
            ErrorType::AuthInvalid,
            None,
            None,
            "Twilio needs Basic credentials (AccountSid and auth token)",
        ));
    };
    let mut c = Listing::parse(cursor);
    let req = match c.page.as_deref() {
        Some(uri) if uri.starts_with("/2010-04-01/Accounts/") => {
            http::authorize(base.request(reqwest::Method::GET, uri), creds)
        }
        Some(_) => {
            return Err(ConnectorError::new(
                p,
                ErrorType::BadRequest,
                None,
                Some("foreign_link".into()),
                "next_page_uri is not an account resource",
            ))
        }
        None => recordings(
            base,
            user,
            creds,
            c.since.as_deref().and_then(watermark::parse_day),
        ),
    };
    let v = call(classify, base, req, no_error).await?;
    let items = items(
        &v,
        "/recordings",
        "recording",
        "/sid",
        Some("/date_created"),
    );
    c.see(watermark::newest_time(&items).map(|t| t.date_naive().to_string()));
    Ok(Page::advanced(items, c.advance(text(&v, "/next_page_uri"))))
}

/// The first request of a listing: the account's recordings, created on or after `since`.
fn recordings(
    base: &Base,
    user: &str,
    creds: &Credentials,
    since: Option<chrono::NaiveDate>,
) -> reqwest::RequestBuilder {
    let mut q = vec![("PageSize", PAGE_SIZE.to_string())];
    if let Some(day) = since {
        q.push(("DateCreated>", day.to_string()));
    }
    query(
        base,
        &format!("/2010-04-01/Accounts/{user}/Recordings.json"),
        creds,
        &q,
    )
}

/// ZeroVoice (Twilio): its connector, and Twilio's status callbacks, form fields
/// (https://www.twilio.com/docs/usage/webhooks/webhooks-overview) signed in
/// `X-Twilio-Signature` over the URL and the parameters, with no signed time
/// (https://www.twilio.com/docs/usage/webhooks/webhooks-security).
pub const SPEC: Spec = Spec {
    webhooks: Some(Webhooks {
        untimed: true,
        form_body: true,
        read: read_event,
        ..Webhooks::signed(Scheme::Twilio)
    }),
    ..Spec::new(
        defaults,
        |b| Arc::new(ZeroVoice(b)),
        |raw, content, _| crate::items::zerovoice::model(raw, content),
    )
};

/// Keyed by the message's or call's Sid and its status: status callbacks repeat the Sid with
/// each new status, and each status is its own event.
fn read_event(payload: &Value, _secret: Option<&[u8]>) -> Result<Read, Refusal> {
    let sid = http::json_id(payload, "/MessageSid").or(http::json_id(payload, "/CallSid"));
    let status = first_str(
        payload,
        &["/MessageStatus", "/CallStatus", "/RecordingStatus"],
    );
    Ok(Read::Event {
        id: sid.map(|sid| format!("{sid}:{}", status.as_deref().unwrap_or(""))),
        event_type: status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::Platform;
    use crate::secret::Secret;

    /// Twilio's OpenAPI description of List Recordings (twilio/twilio-oai,
    /// spec/json/twilio_api_v2010.json, `ListRecording`;
    /// https://www.twilio.com/docs/voice/api/recording#read-multiple-recording-resources)
    /// names the query parameters `DateCreated`, `DateCreated<` and `DateCreated>`: in
    /// `DateCreated>=2009-07-06` the `=` is the query string's.
    #[test]
    fn the_date_filter_is_the_parameter_named_date_created_greater_than() {
        let base = Base::new(
            Platform::ZeroVoice,
            reqwest::Client::new(),
            &defaults(),
            &Default::default(),
        );
        let creds = Credentials::Basic {
            user: "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
            secret: Secret::new("t"),
        };
        let day = chrono::NaiveDate::from_ymd_opt(2009, 7, 6);
        let req = recordings(&base, "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &creds, day)
            .build()
            .expect("request");
        let pairs: Vec<(String, String)> = req.url().query_pairs().into_owned().collect();
        assert!(
            pairs.contains(&("DateCreated>".into(), "2009-07-06".into())),
            "{pairs:?}"
        );
        assert!(req
            .url()
            .query()
            .is_some_and(|q| q.contains("DateCreated%3E=2009-07-06")));
    }
}
