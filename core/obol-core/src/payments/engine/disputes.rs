//! Disputes: the amount withdrawn from the merchant until the dispute is decided.

use super::*;

impl Payments {
    /// Records a dispute the provider reported: the amount is withdrawn from the merchant
    /// (held) until the dispute is decided.
    pub async fn open_dispute(
        &self,
        id: &PaymentId,
        amount: i128,
        reason: &str,
    ) -> Result<Dispute> {
        let payment = self.payment(id).await?;
        let step = transition(&payment.state, PaymentAction::OpenDispute { amount })?;
        let now = self.ledger.now();
        let dispute_id = DisputeId::generate(self.ledger.ids().as_ref());
        let dispute = Dispute {
            hold_id: TransactionId::derived(&format!("obol:payments:hold:{dispute_id}")),
            id: dispute_id,
            payment_id: payment.id.clone(),
            amount,
            status: DisputeStatus::NeedsResponse,
            reason: reason.to_owned(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let mut next = payment.clone();
        next.state = step.next;
        self.commit_child(
            &payment,
            next,
            Child::Dispute(dispute.clone()),
            None,
            &[LedgerEffect::HoldReturn { amount }],
            "dispute.created",
        )
        .await?;
        Ok(dispute)
    }

    /// Moves a dispute on: evidence submitted (`under_review`), or decided (`won` returns the
    /// money to the merchant, `lost` posts it back to the customer).
    pub async fn update_dispute(&self, id: &DisputeId, status: DisputeStatus) -> Result<Dispute> {
        let Some(Child::Dispute(dispute)) = self.ledger.store().child(id.as_str()).await? else {
            return Err(Error::DisputeNotFound { id: id.to_string() });
        };
        let payment = self.payment(&dispute.payment_id).await?;
        let effects = dispute.status.to(status, dispute.amount)?;
        let mut next = payment.clone();
        if matches!(status, DisputeStatus::Won | DisputeStatus::Lost) {
            let action = PaymentAction::CloseDispute {
                amount: dispute.amount,
                won: status == DisputeStatus::Won,
            };
            next.state = transition(&payment.state, action)?.next;
        }
        let mut updated = dispute.clone();
        updated.status = status;
        updated.version += 1;
        updated.updated_at = self.ledger.now();
        let kind = match status {
            DisputeStatus::Won => "dispute.won",
            DisputeStatus::Lost => "dispute.lost",
            _ => "dispute.updated",
        };
        self.commit_child(
            &payment,
            next,
            Child::Dispute(updated.clone()),
            Some(dispute.version),
            &effects,
            kind,
        )
        .await?;
        Ok(updated)
    }
}
