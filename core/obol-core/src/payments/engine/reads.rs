//! Reading payments, their refunds and disputes, and their events.

use super::*;

impl Payments {
    /// A payment.
    pub async fn payment(&self, id: &PaymentId) -> Result<Payment> {
        self.ledger
            .store()
            .payment(id)
            .await?
            .ok_or_else(|| Error::PaymentNotFound { id: id.to_string() })
    }

    /// One merchant's payments, newest first, filtered and paged by `query`.
    pub async fn list(&self, query: &PaymentQuery) -> Result<Vec<Payment>> {
        self.ledger.store().list_payments(query).await
    }

    /// One merchant's events in order, after a position, `query.limit` of them (1 to
    /// [`MAX_PAGE`]).
    pub async fn events(&self, query: &EventQuery) -> Result<Vec<StoredEvent>> {
        let mut query = query.clone();
        query.limit = query.limit.clamp(1, MAX_PAGE);
        self.ledger.store().merchant_events(&query).await
    }

    /// Outbox events after position `after`.
    pub async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<StoredEvent>> {
        self.ledger.store().events_after(after, limit).await
    }

    /// A payment's refunds and disputes.
    pub async fn children(&self, id: &PaymentId) -> Result<Vec<Child>> {
        self.ledger.store().children(id).await
    }
}
