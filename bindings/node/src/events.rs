//! Events, pulled: every payment change writes an event in the same transaction (the outbox),
//! and an app reads them in order from the last position it saw.

use napi::Env;
use napi::bindgen_prelude::{PromiseRaw, Result};
use napi_derive::napi;
use obol::payments::{EventQuery, StoredEvent, default_merchant};

use crate::convert::{id, millis, promise};
use crate::payments::PaymentRecord;
use crate::tenant::Tenant;

/// A payment event.
#[napi(object)]
pub struct EventRecord {
    /// Position in the event log: pass the last one seen as `after` to read on.
    pub sequence: i64,
    /// `evt_…`, stable (webhook deliveries carry the same id).
    pub id: String,
    /// `payment.created`, `payment.succeeded`, `refund.succeeded`, …
    pub kind: String,
    /// The payment as it was after the change.
    pub payment: PaymentRecord,
    /// The refund or dispute the event is about, if any.
    pub child_id: Option<String>,
    /// When it happened (milliseconds since 1970).
    pub created_at: i64,
}

impl From<StoredEvent> for EventRecord {
    fn from(stored: StoredEvent) -> Self {
        let event = stored.event;
        EventRecord {
            sequence: stored.sequence,
            id: event.id.to_string(),
            kind: event.kind,
            child_id: event.child.as_ref().map(|child| child.id().to_owned()),
            payment: PaymentRecord::from(event.payment),
            created_at: millis(event.created_at),
        }
    }
}

#[napi]
impl Tenant {
    /// Up to `limit` of the tenant's events (at most 1000) after position `after` (0: from
    /// the start), oldest first; only one payment's with `paymentId`.
    #[napi]
    pub fn events<'env>(
        &self,
        env: &'env Env,
        after: i64,
        limit: u32,
        payment_id: Option<String>,
    ) -> Result<PromiseRaw<'env, Vec<EventRecord>>> {
        let tenant = self.scoped();
        promise(env, async move {
            let query = EventQuery {
                merchant: default_merchant(),
                mode: None,
                payment: payment_id.as_deref().map(id).transpose()?,
                after,
                limit,
            };
            let found = tenant?.events(query).await?;
            Ok(found.into_iter().map(EventRecord::from).collect())
        })
    }
}
