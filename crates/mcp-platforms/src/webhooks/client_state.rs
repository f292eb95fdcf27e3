//! Outlook (Microsoft Graph) change notifications carry no signature: each notification's
//! `clientState` must equal the one we gave the subscription (sealed as the webhook's secret).
//! Compared in constant time; a body without notifications is refused.

use serde_json::Value;

use super::{Delivery, Refusal};

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
