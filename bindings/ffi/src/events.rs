//! Events, pulled: every payment change writes an event in the same transaction (the outbox),
//! and an app reads them in order from the last position it saw.

use std::time::SystemTime;

use obol::payments::{EventQuery, StoredEvent, default_merchant};

use crate::convert::{id, time};
use crate::error::PaymentError;
use crate::payments::PaymentRecord;
use crate::tenant::Tenant;

/// A payment event.
#[derive(Debug, Clone, uniffi::Record)]
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
    /// When it happened.
    pub created_at: SystemTime,
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
            created_at: time(event.created_at),
        }
    }
}

#[uniffi::export]
impl Tenant {
    /// Up to `limit` of the tenant's events (at most 1000) after position `after` (0: from
    /// the start), oldest first; only one payment's with `payment_id`.
    pub async fn events(
        &self,
        after: i64,
        limit: u32,
        payment_id: Option<String>,
    ) -> Result<Vec<EventRecord>, PaymentError> {
        self.call(|tenant| async move {
            let query = EventQuery {
                merchant: default_merchant(),
                mode: None,
                payment: payment_id.as_deref().map(id).transpose()?,
                after,
                limit,
            };
            tenant.events(query).await
        })
        .await
        .map(|found| found.into_iter().map(EventRecord::from).collect())
    }
}
