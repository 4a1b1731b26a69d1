//! Webhook endpoints, fan-out of events to deliveries, and attempts.

use super::*;
use crate::webhooks::{DeliveryBacklog, StoredSecret};

#[async_trait]
impl WebhookStore for MemoryStore {
    async fn save_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<()> {
        let mut state = self.lock()?;
        match state.endpoints.iter_mut().find(|e| e.id == endpoint.id) {
            Some(existing) => {
                existing.url.clone_from(&endpoint.url);
                existing.enabled = endpoint.enabled;
            }
            None => state.endpoints.push(endpoint.clone()),
        }
        Ok(())
    }

    async fn endpoints(&self, merchant: &MerchantId) -> Result<Vec<WebhookEndpoint>> {
        let state = self.lock()?;
        Ok(state
            .endpoints
            .iter()
            .filter(|e| e.merchant == *merchant)
            .cloned()
            .collect())
    }

    async fn endpoint_secrets(&self) -> Result<Vec<(EndpointId, StoredSecret)>> {
        let state = self.lock()?;
        Ok(state
            .endpoints
            .iter()
            .map(|e| (e.id.clone(), e.secret.clone()))
            .collect())
    }

    async fn reseal_endpoint_secret(
        &self,
        endpoint: &EndpointId,
        before: &str,
        sealed: &str,
    ) -> Result<bool> {
        let mut state = self.lock()?;
        let Some(found) = state
            .endpoints
            .iter_mut()
            .find(|e| e.id == *endpoint && e.secret.to_stored() == before)
        else {
            return Ok(false);
        };
        found.secret = StoredSecret::from_stored(sealed)?;
        Ok(true)
    }

    async fn fan_out_events(&self, limit: u32, now: Timestamp) -> Result<usize> {
        let mut state = self.lock()?;
        let end = state
            .events
            .len()
            .min(state.fanned_out + usize::try_from(limit).unwrap_or(usize::MAX));
        let targets: Vec<(MerchantId, Mode, EndpointId)> = state
            .endpoints
            .iter()
            .filter(|e| e.enabled)
            .map(|e| (e.merchant.clone(), e.mode, e.id.clone()))
            .collect();
        let mut created = 0;
        for event in state.fanned_out..end {
            let payment = &state.events[event].payment;
            let (merchant, mode) = (payment.merchant.clone(), payment.mode);
            let theirs = targets
                .iter()
                .filter(|(m, endpoint_mode, _)| *m == merchant && *endpoint_mode == mode);
            for (_, _, endpoint_id) in theirs {
                state.deliveries.push(DeliveryRow {
                    event,
                    endpoint_id: endpoint_id.clone(),
                    state: DeliveryState::Pending,
                    attempts: 0,
                    next_attempt_at: now,
                });
                created += 1;
            }
        }
        state.fanned_out = end;
        Ok(created)
    }

    async fn due_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        let mut guard = self.lock()?;
        let state = &mut *guard;
        let mut due = Vec::new();
        for (index, row) in state.deliveries.iter_mut().enumerate() {
            if due.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
                break;
            }
            if row.state != DeliveryState::Pending || row.next_attempt_at > now {
                continue;
            }
            let (Some(endpoint), Some(event)) = (
                state
                    .endpoints
                    .iter()
                    .find(|e| e.id == row.endpoint_id && e.enabled),
                state.events.get(row.event),
            ) else {
                continue;
            };
            due.push(Delivery {
                id: i64::try_from(index).unwrap_or(i64::MAX) + 1,
                event_id: event.id.clone(),
                endpoint_id: endpoint.id.clone(),
                url: endpoint.url.clone(),
                secret: endpoint.secret.clone(),
                body: to_json(event)?,
                attempts: row.attempts,
            });
            row.next_attempt_at = lease_until;
        }
        Ok(due)
    }

    async fn record_attempt(&self, outcome: &AttemptOutcome) -> Result<()> {
        let mut state = self.lock()?;
        let index = usize::try_from(outcome.attempt.delivery_id - 1)
            .map_err(|_| Error::corrupt("bad delivery id"))?;
        let row = state
            .deliveries
            .get_mut(index)
            .ok_or_else(|| Error::corrupt("unknown delivery"))?;
        // Only the attempt that follows the stored one moves a pending delivery: a delivery
        // failed meanwhile (its endpoint gone) stays failed, and a late answer to a send whose
        // lease ran out changes nothing. The attempt itself is kept: it was made.
        if row.state == DeliveryState::Pending && row.attempts + 1 == outcome.attempt.attempt {
            row.state = outcome.state;
            row.attempts = outcome.attempt.attempt;
            if let Some(next) = outcome.next_attempt_at {
                row.next_attempt_at = next;
            }
        }
        if outcome.disable_endpoint {
            let gone = outcome.attempt.endpoint_id.clone();
            for endpoint in state.endpoints.iter_mut().filter(|e| e.id == gone) {
                endpoint.enabled = false;
            }
            for row in state
                .deliveries
                .iter_mut()
                .filter(|d| d.endpoint_id == gone && d.state == DeliveryState::Pending)
            {
                row.state = DeliveryState::Failed;
            }
        }
        state.attempts.push(outcome.attempt.clone());
        Ok(())
    }

    async fn delivery_attempts(&self, event_id: &EventId) -> Result<Vec<DeliveryAttempt>> {
        Ok(self
            .lock()?
            .attempts
            .iter()
            .filter(|a| &a.event_id == event_id)
            .cloned()
            .collect())
    }

    async fn delivery_backlog(&self, now: Timestamp) -> Result<DeliveryBacklog> {
        let state = self.lock()?;
        let pending = state
            .deliveries
            .iter()
            .filter(|d| d.state == DeliveryState::Pending);
        Ok(DeliveryBacklog {
            pending: u64::try_from(pending.clone().count()).unwrap_or(u64::MAX),
            oldest_due: pending
                .map(|d| d.next_attempt_at)
                .filter(|at| *at <= now)
                .min(),
        })
    }
}
