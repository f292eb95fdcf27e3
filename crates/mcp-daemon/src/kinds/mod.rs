//! One type per job kind: the type is the kind's payload; its `Kind` impl names the kind and
//! gives its description, policy, per-kind concurrency, default schedule and unique key; its
//! payload schema is derived from the type. `mcp_handlers`' `<kind>.rs` is its `run`. Every module that
//! enqueues a job does it through its type (`HealthCheck { integration_id }.enqueue(&mut tx)`,
//! or the type's `KIND` bound into a bulk statement), so the kind's name is spelled here only.
//! A leaf: it imports nothing of the crate, so any module may enqueue.

/// Declares one job kind: its payload type (the fields as written; unknown fields refused) and
/// its `Kind` impl: the name, the description (also the type's doc), the policy in seconds
/// (attempts, timeout, backoff base and maximum), and where given its per-daemon concurrency,
/// default cron schedule, unique key (`unique [f, …]`: `<kind>:<f>:…`, one live job each) and
/// the integration it is about (`about f`: the row's `integration_id`).
macro_rules! kind {
    // A kind about one integration: its one field, `integration_id`, keyed per integration.
    (
        $name:ident = $kind:literal: $desc:literal,
        policy($attempts:literal, $timeout:literal, $base:literal, $max:literal)
        $(, concurrency $c:literal)?;
        integration $doc:literal
    ) => {
        kind! {
            $name = $kind: $desc,
            policy($attempts, $timeout, $base, $max) $(, concurrency $c)?,
            unique [integration_id], about integration_id;
            {
                #[doc = $doc]
                pub integration_id: uuid::Uuid,
            }
        }
    };
    // A sweep: on its schedule, with one optional override in seconds.
    (
        $name:ident = $kind:literal: $desc:literal,
        policy($attempts:literal, $timeout:literal, $base:literal, $max:literal),
        schedule $s:literal;
        seconds $field:ident $doc:literal
    ) => {
        kind! {
            #[derive(Default)]
            $name = $kind: $desc,
            policy($attempts, $timeout, $base, $max), schedule $s;
            {
                #[doc = $doc]
                pub $field: Option<u64>,
            }
        }
    };
    (
        $(#[derive($($derive:ident),*)])?
        $name:ident = $kind:literal: $desc:literal,
        policy($attempts:literal, $timeout:literal, $base:literal, $max:literal)
        $(, concurrency $c:literal)?
        $(, schedule $s:literal)?
        $(, unique [$($f:ident),*])?
        $(, about $about:ident)?;
        { $($body:tt)* }
    ) => {
        #[doc = $desc]
        #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema $($(, $derive)*)?)]
        #[serde(deny_unknown_fields)]
        pub struct $name { $($body)* }

        impl mcp_queue::Kind for $name {
            const KIND: &'static str = $kind;
            const DESCRIPTION: &'static str = $desc;
            const POLICY: mcp_queue::catalog::RetryPolicy =
                mcp_queue::catalog::RetryPolicy::secs($attempts, $timeout, $base, $max);
            $(const CONCURRENCY: Option<usize> = Some($c);)?
            $(const DEFAULT_SCHEDULE: Option<&'static str> = Some($s);)?
            $(
                fn unique_key(&self) -> Option<String> {
                    #[allow(unused_mut)]
                    let mut key = String::from(Self::KIND);
                    $(
                        key.push(':');
                        key.push_str(&self.$f.to_string());
                    )*
                    Some(key)
                }
            )?
            $(
                fn integration_id(&self) -> Option<uuid::Uuid> {
                    Some(self.$about)
                }
            )?
        }
    };
}

mod integration;
mod other;
mod sweeps;

pub use integration::{
    HealthCheck, Reconcile, Sync, TokenRefresh, WebhookSubscribe, WebhookUnsubscribe,
};
pub use mcp_queue::Kind;
pub use other::{ItemsBackfill, Noop, NotifyDeliver, Prune, WebhookProcess, WebhookRenew};
pub use sweeps::{HealthSweep, ReconcileSweep, SyncSweep, TokenRefreshSweep, WebhookRenewSweep};
