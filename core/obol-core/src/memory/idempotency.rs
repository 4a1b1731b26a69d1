//! Idempotency keys: claims with leases, completions and releases.

use super::*;

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn claim_key(
        &self,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Claim> {
        let mut state = self.lock()?;
        let Some(record) = state.keys.get_mut(key) else {
            state.keys.insert(
                key.to_owned(),
                KeyRecord {
                    request_hash: request_hash.to_owned(),
                    response: None,
                    lease_until,
                    claimed_at: now,
                },
            );
            return Ok(Claim::first(now));
        };
        let claim = Claim::of_existing(
            &record.request_hash,
            record.response.clone(),
            record.lease_until,
            Some(record.claimed_at),
            request_hash,
            now,
        );
        if matches!(claim, Claim::Started { .. }) {
            record.lease_until = lease_until;
        }
        Ok(claim)
    }

    async fn complete_key(&self, key: &str, response: &str) -> Result<()> {
        if let Some(record) = self.lock()?.keys.get_mut(key) {
            record.response = Some(response.to_owned());
        }
        Ok(())
    }

    async fn release_key(&self, key: &str) -> Result<()> {
        let mut state = self.lock()?;
        if let Some(record) = state.keys.get_mut(key).filter(|r| r.response.is_none()) {
            record.lease_until = Timestamp::from_micros(0);
        }
        Ok(())
    }
}
