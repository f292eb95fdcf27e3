//! Outlook (Microsoft Graph) change notifications carry no signature: each notification's
//! `clientState` must equal the one we gave the subscription (sealed as the webhook's secret).
//! Compared in constant time; a body without notifications is refused. Once verified, the
//! clientState is replaced in the payload that is stored (`redact`), and each delivery gets a
//! key that tells a redelivery from a later change (`dedup_key`).

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Delivery, Refusal};

/// What replaces each notification's `clientState` in the stored payload once it has been
/// checked: the value is the subscription's secret, which no stored row may hold in clear.
pub const VERIFIED: &str = "[verified]";

pub fn verify(d: &Delivery<'_>, secret: &[u8]) -> Result<(), Refusal> {
    let v: Value = serde_json::from_slice(d.body).map_err(|_| Refusal::Malformed)?;
    let items = v
        .get("value")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or(Refusal::Malformed)?;
    for n in items {
        let state = n
            .get("clientState")
            .and_then(Value::as_str)
            .ok_or(Refusal::BadSignature("no clientState"))?;
        super::ct_equal(state.as_bytes(), secret)?;
    }
    Ok(())
}

/// Replaces every notification's `clientState` with [`VERIFIED`] (run after `verify`).
pub(super) fn redact(payload: &mut Value) {
    let Some(items) = payload.get_mut("value").and_then(Value::as_array_mut) else {
        return;
    };
    for n in items {
        if let Some(state) = n.get_mut("clientState") {
            *state = Value::String(VERIFIED.to_string());
        }
    }
}

/// The key that deduplicates a delivery of change notifications (after `redact`).
///
/// Graph resends a notification it got no 2xx for within 3 seconds, "multiple times, for up to
/// 4 hours" (https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks,
/// "Processing the change notification"): a redelivery is the same notification again. A basic
/// notification names its subscription, `changeType`, `resource`, `tenantId` and
/// `subscriptionExpirationDateTime`, which a later change of the same message repeats; what
/// tells two changes apart is the rest of the object: its optional `id`, "Unique ID for the
/// notification" (https://learn.microsoft.com/en-us/graph/api/resources/changenotification),
/// and for mail the message's `resourceData.@odata.etag`, new with each change (the documented
/// example of the first page carries both). So each notification is keyed by its subscription,
/// change type, resource and lifecycle event (for people reading the table) and the SHA-256 of
/// the whole notification object: a redelivery gives the same key, a later "updated" of the
/// same message a new one. Two notifications equal in every field cannot be told from a
/// redelivery and count once (the sync the first asks for, or the fallback poll, reads the
/// mailbox's changes). One POST may carry several notifications (of several subscriptions,
/// same page): the delivery is keyed by all of them, in order. `None` when a notification names
/// no subscription (then the body's hash keys it).
pub(super) fn dedup_key(payload: &Value) -> Option<String> {
    let items = payload.get("value")?.as_array()?;
    let mut keys = Vec::with_capacity(items.len());
    for n in items {
        let field = |k: &str| n.get(k).and_then(Value::as_str).unwrap_or("");
        let subscription = n.get("subscriptionId")?.as_str()?;
        let whole = hex::encode(Sha256::digest(n.to_string().as_bytes()));
        keys.push(format!(
            "{subscription}|{}|{}|{}|{whole}",
            field("changeType"),
            field("resource"),
            field("lifecycleEvent"),
        ));
    }
    match keys.len() {
        0 => None,
        1 => keys.pop(),
        _ => Some(format!(
            "batch:{}",
            hex::encode(Sha256::digest(keys.join("\n").as_bytes()))
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The documented notification of a new message
    /// (https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks), with
    /// `changeType` and the etag (and notification id) of the change given.
    fn notification(change: &str, id: &str, etag: &str) -> Value {
        json!({"value": [{
            "id": id,
            "subscriptionId": "{subscription_guid}",
            "subscriptionExpirationDateTime": "2016-03-19T22:11:09.952Z",
            "clientState": "secretClientValue",
            "changeType": change,
            "resource": "users/{user_guid}@{tenant_guid}/messages/{long_id_string}",
            "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
            "resourceData": {
                "@odata.type": "#Microsoft.Graph.Message",
                "@odata.id": "Users/{user_guid}@{tenant_guid}/Messages/{long_id_string}",
                "@odata.etag": etag,
                "id": "{long_id_string}"
            }
        }]})
    }

    fn key(mut v: Value) -> String {
        redact(&mut v);
        dedup_key(&v).expect("a key")
    }

    #[test]
    fn a_redelivery_has_the_same_key_a_later_change_another() {
        let first = notification("updated", "lsgTZMr9KwAAA", "W/\"CQAAABYAAADkrWGo\"");
        assert_eq!(key(first.clone()), key(first.clone()));
        let later = notification("updated", "lsgTZMr9KwAAB", "W/\"CQAAABYAAADkrWGp\"");
        assert_ne!(key(first.clone()), key(later));
        // Without a notification id, the etag alone tells the changes apart.
        let mut a = first.clone();
        let mut b = notification("updated", "", "W/\"CQAAABYAAADkrWGp\"");
        for v in [&mut a, &mut b] {
            v["value"][0].as_object_mut().expect("object").remove("id");
        }
        assert_ne!(key(a), key(b));
        let k = key(first);
        assert!(
            k.starts_with("{subscription_guid}|updated|users/"),
            "readable prefix: {k}"
        );
    }

    #[test]
    fn a_batch_is_keyed_by_all_its_notifications() {
        let one = notification("created", "a", "W/\"1\"");
        let two = notification("updated", "b", "W/\"2\"");
        let batch = json!({"value": [one["value"][0].clone(), two["value"][0].clone()]});
        let k = key(batch.clone());
        assert!(k.starts_with("batch:"), "{k}");
        assert_eq!(k, key(batch));
        let reversed = json!({"value": [two["value"][0].clone(), one["value"][0].clone()]});
        assert_ne!(k, key(reversed));
        // A notification naming no subscription: no key (the body's hash is used).
        assert_eq!(
            dedup_key(&json!({"value": [{"changeType": "created"}]})),
            None
        );
    }

    #[test]
    fn the_client_state_is_not_kept() {
        let mut v = notification("created", "a", "W/\"1\"");
        redact(&mut v);
        assert_eq!(v["value"][0]["clientState"], json!(VERIFIED));
        assert!(!v.to_string().contains("secretClientValue"));
    }
}
