//! The background side of payments: a task that regularly settles what a provider left
//! unknown (status sync of `processing` payments and pending refunds) and expires what waited
//! too long. Servers and apps start it once next to their [`Payments`].

use std::sync::Arc;
use std::time::Duration;

use super::engine::Payments;
use crate::periodic::Periodic;

/// How often and how patiently the maintenance task works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaintenancePolicy {
    /// Time between passes.
    pub every: Duration,
    /// How long a provider call may be in flight before its outcome is looked up.
    pub sync_after: Duration,
    /// How long an authorization may wait for capture.
    pub capture_window: Duration,
    /// How long a payment may wait for a method, a confirmation or an action.
    pub abandon_after: Duration,
}

impl Default for MaintenancePolicy {
    fn default() -> Self {
        MaintenancePolicy {
            every: Duration::from_secs(30),
            sync_after: Duration::from_secs(60),
            capture_window: Duration::from_secs(7 * 24 * 3600),
            abandon_after: Duration::from_secs(24 * 3600),
        }
    }
}

/// The running task; [`Maintenance::stop`] ends it after its current pass.
#[derive(Debug)]
pub struct Maintenance(Periodic);

impl Maintenance {
    /// Starts the task on the current tokio runtime.
    pub fn spawn(payments: Arc<Payments>, policy: MaintenancePolicy) -> Self {
        Maintenance(Periodic::spawn(policy.every, move || {
            let payments = payments.clone();
            async move { pass(&payments, &policy).await }
        }))
    }

    /// Stops the task and waits for it.
    pub async fn stop(self) {
        self.0.stop().await;
    }
}

/// One pass; failures are logged and retried on the next pass.
async fn pass(payments: &Payments, policy: &MaintenancePolicy) {
    match payments.sync_processing(policy.sync_after).await {
        Ok(0) => {}
        Ok(settled) => tracing::info!(settled, "processing payments settled by status sync"),
        Err(error) => tracing::warn!(code = error.code(), %error, "status sync failed"),
    }
    match payments.sync_refunds(policy.sync_after).await {
        Ok(0) => {}
        Ok(settled) => tracing::info!(settled, "pending refunds settled"),
        Err(error) => tracing::warn!(code = error.code(), %error, "refund sync failed"),
    }
    match payments
        .expire_stale(policy.capture_window, policy.abandon_after)
        .await
    {
        Ok(0) => {}
        Ok(expired) => tracing::info!(expired, "stale payments expired"),
        Err(error) => tracing::warn!(code = error.code(), %error, "expiry failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PaymentId;
    use crate::memory::MemoryStore;
    use crate::money::AssetCode;
    use crate::payments::{CardDetails, NewPayment, PaymentStatus, ProviderRegistry, Sandbox};
    use crate::testing::test_ledger;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn settles_unknown_outcomes_in_the_background() {
        let (ledger, _) = test_ledger(Arc::new(MemoryStore::new()), 81).await;
        let mut providers = ProviderRegistry::new();
        providers.register(Arc::new(Sandbox::ephemeral()));
        let payments = Arc::new(Payments::new(Arc::new(ledger), providers));
        let id = PaymentId::generate(payments.ledger().ids().as_ref());
        let usd = AssetCode::new("USD").unwrap();
        payments
            .create(NewPayment::new(id.clone(), 70, usd))
            .await
            .unwrap();
        let card =
            CardDetails::new("4000000000000085", 1, 2031, "123", payments.ledger().now()).unwrap();
        let token = payments
            .tokenize_card("sandbox", &crate::payments::default_merchant(), &card)
            .await
            .unwrap();
        payments.attach_method(&id, token).await.unwrap();
        let lost = payments.confirm(&id).await.unwrap();
        assert_eq!(lost.state.status, PaymentStatus::Processing);

        let policy = MaintenancePolicy {
            every: Duration::from_millis(10),
            sync_after: Duration::ZERO,
            ..MaintenancePolicy::default()
        };
        let maintenance = Maintenance::spawn(payments.clone(), policy);
        let mut status = lost.state.status;
        for _ in 0..200 {
            status = payments.payment(&id).await.unwrap().state.status;
            if status != PaymentStatus::Processing {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        maintenance.stop().await;
        assert_eq!(status, PaymentStatus::Succeeded);
    }
}
