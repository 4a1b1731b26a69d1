//! Payments: atomic payment writes with their ledger commands and events, and listings.

use super::*;

#[async_trait]
impl PaymentStore for MemoryStore {
    async fn write_payment(&self, write: PaymentWrite, now: Timestamp) -> Result<()> {
        let mut state = self.lock()?;
        let stored = state.payments.get(&write.payment.id).map(|p| p.version);
        let children_current = write.children.iter().all(|w| {
            let stored = state
                .children
                .iter()
                .find(|c| c.id() == w.child.id())
                .map(Child::version);
            stored == w.expected_version
        });
        if stored != write.expected_version || !children_current {
            return Err(Error::Contention {
                reason: "the payment changed concurrently".into(),
            });
        }
        let (results, writes) = state.plan(&write.ledger, now);
        batch::all_committed(results)?;
        state.persist(writes);
        state
            .payments
            .insert(write.payment.id.clone(), write.payment.clone());
        for w in &write.children {
            match state.children.iter_mut().find(|c| c.id() == w.child.id()) {
                Some(existing) => *existing = w.child.clone(),
                None => state.children.push(w.child.clone()),
            }
        }
        state.events.extend(write.events.iter().cloned());
        if let Some(answer) = &write.answer
            && let Some(record) = state.keys.get_mut(&answer.key)
            && record.response.is_none()
        {
            record.response = Some(answer.response.clone());
        }
        Ok(())
    }

    async fn payment(&self, id: &PaymentId) -> Result<Option<Payment>> {
        Ok(self.lock()?.payments.get(id).cloned())
    }

    async fn payments_with_status(
        &self,
        status: PaymentStatus,
        limit: u32,
    ) -> Result<Vec<Payment>> {
        let state = self.lock()?;
        let mut found: Vec<Payment> = state
            .payments
            .values()
            .filter(|p| p.state.status == status)
            .cloned()
            .collect();
        found.sort_by(|a, b| (a.updated_at, &a.id).cmp(&(b.updated_at, &b.id)));
        found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(found)
    }

    async fn payment_by_reference(
        &self,
        provider: &str,
        reference: &str,
    ) -> Result<Option<Payment>> {
        Ok(self
            .lock()?
            .payments
            .values()
            .find(|p| {
                p.provider.as_deref() == Some(provider)
                    && p.provider_reference.as_deref() == Some(reference)
            })
            .cloned())
    }

    async fn child(&self, id: &str) -> Result<Option<Child>> {
        Ok(self.lock()?.children.iter().find(|c| c.id() == id).cloned())
    }

    async fn children(&self, payment: &PaymentId) -> Result<Vec<Child>> {
        Ok(self
            .lock()?
            .children
            .iter()
            .filter(|c| c.payment_id() == payment)
            .cloned()
            .collect())
    }

    async fn children_with_status(
        &self,
        kind: &str,
        status: &str,
        limit: u32,
    ) -> Result<Vec<Child>> {
        Ok(self
            .lock()?
            .children
            .iter()
            .filter(|c| c.kind() == kind && c.status() == status)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }

    async fn list_payments(&self, query: &PaymentQuery) -> Result<Vec<Payment>> {
        let state = self.lock()?;
        let mut found: Vec<Payment> = state
            .payments
            .values()
            .filter(|p| query.matches(p))
            .filter(|p| {
                query
                    .starting_after
                    .as_ref()
                    .is_none_or(|after| p.id < *after)
            })
            .cloned()
            .collect();
        found.sort_by(|a, b| b.id.cmp(&a.id));
        found.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
        Ok(found)
    }

    async fn merchant_events(&self, query: &EventQuery) -> Result<Vec<StoredEvent>> {
        let state = self.lock()?;
        let skip = usize::try_from(query.after.max(0)).unwrap_or(usize::MAX);
        Ok(state
            .events
            .iter()
            .enumerate()
            .skip(skip)
            .filter(|(_, e)| e.payment.merchant == query.merchant)
            .filter(|(_, e)| query.mode.is_none_or(|mode| e.payment.mode == mode))
            .filter(|(_, e)| query.payment.as_ref().is_none_or(|p| *p == e.payment_id))
            .take(usize::try_from(query.limit).unwrap_or(usize::MAX))
            .map(|(index, event)| StoredEvent {
                sequence: i64::try_from(index).unwrap_or(i64::MAX) + 1,
                event: event.clone(),
            })
            .collect())
    }

    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<StoredEvent>> {
        let state = self.lock()?;
        let skip = usize::try_from(after.max(0)).unwrap_or(usize::MAX);
        Ok(state
            .events
            .iter()
            .enumerate()
            .skip(skip)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|(index, event)| StoredEvent {
                sequence: i64::try_from(index).unwrap_or(i64::MAX) + 1,
                event: event.clone(),
            })
            .collect())
    }
}
