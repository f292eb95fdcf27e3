//! Outlook (Graph) change notifications: a redelivery of the same POST is a duplicate, a later
//! change of the same message is a new event; the stored payload keeps no clientState.

use mcp_platforms::connectors::Platform;
use serde_json::json;

use super::{env, secret_of};

/// Graph's documented notification of a message
/// (https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks) for change
/// `id` (the notification's id and the message's etag after that change).
fn notification(client_state: &str, change: &str, id: &str) -> Vec<u8> {
    json!({"value": [{
        "id": id,
        "subscriptionId": "6c9a4e1b-3f2d-4b8a-9e7c-1d0f2a3b4c5d",
        "subscriptionExpirationDateTime": "2030-03-19T22:11:09.952Z",
        "clientState": client_state,
        "changeType": change,
        "resource": "Users/9f4ebab6-520d-49c0-85cc-7b25c78d4a93/Messages/AAMkADd",
        "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Message",
            "@odata.id": "Users/9f4ebab6-520d-49c0-85cc-7b25c78d4a93/Messages/AAMkADd",
            "@odata.etag": format!("W/\"CQAAABYAAADkrWGo7bouTKlsgTZMr9Kw{id}\""),
            "id": "AAMkADd"
        }
    }]})
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn each_change_is_an_event_a_redelivery_is_not_and_no_client_state_is_stored() {
    let env = env().await;
    let path = env.hook(Platform::Outlook).await;
    let client_state = secret_of(Platform::Outlook);
    let post = |body: Vec<u8>| {
        let (env, path) = (&env, &path);
        async move { env.post(path, "application/json", &[], &body).await }
    };
    let created = notification(&client_state, "created", "A1");
    let updated = notification(&client_state, "updated", "A2");
    let updated_again = notification(&client_state, "updated", "A3");
    for (body, what) in [(&created, "created"), (&updated, "first update")] {
        let r = post(body.clone()).await;
        assert_eq!(r.status, 200, "{what}: {}", r.body);
        assert!(r.body.contains("event_id"), "{what}: {}", r.body);
    }
    // Graph resending the same POST (no 2xx within 3 s): a duplicate.
    let r = post(updated.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("duplicate"), "{}", r.body);
    assert_eq!(env.counts().await.0, 2);
    // A second "updated" of the same message, in a POST of its own: a new event.
    let r = post(updated_again).await;
    assert!(r.body.contains("event_id"), "second update: {}", r.body);
    assert_eq!(env.counts().await.0, 3);

    // The clientState (the subscription's secret) is in no stored payload.
    let (with_secret, verified): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE strpos(payload::text, $1) > 0), \
                count(*) FILTER (WHERE payload->'value'->0->>'clientState' = '[verified]') \
         FROM mcp.webhook_events",
    )
    .bind(&client_state)
    .fetch_one(&env.db.pool)
    .await
    .expect("payloads");
    assert_eq!((with_secret, verified), (0, 3));
    env.finish().await;
}
