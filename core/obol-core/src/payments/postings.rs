//! The chart of accounts a payment moves money through, and the ledger commands each
//! [`LedgerEffect`] becomes.
//!
//! | account             | normal | balance means                                          |
//! |---------------------|--------|--------------------------------------------------------|
//! | `provider_clearing` | debit  | what the provider collected for us and still owes us   |
//! | `merchant`          | credit | pending: authorized, not captured; posted: available   |
//! | `fees`              | debit  | provider fees paid on captures                         |
//!
//! authorize = a hold (debit clearing, credit merchant: the merchant's pending balance);
//! capture = a post of that hold (the rest released on the final capture); release = a void.
//! A refund or a dispute holds the money going back (debit merchant, credit clearing) under its
//! own hold id, posts it when the refund succeeds or the dispute is lost, and voids it when the
//! refund fails or the dispute is won; so the merchant's posted balance is always
//! captured − succeeded refunds − lost disputes. A provider fee is its own leg (debit fees,
//! credit clearing): the provider keeps it out of what it owes us, and the merchant's balance
//! is untouched.

use super::state::LedgerEffect;
use crate::id::{AccountId, TransactionId};
use crate::ledger::model::{
    Entry, LedgerCommand, NewHold, NewTransaction, PostAmount, PostHold, VoidHold,
};
use crate::money::AssetCode;

/// The ledger accounts of one merchant's payments in one asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentAccounts {
    /// The asset of every movement.
    pub asset: AssetCode,
    /// Debit-normal: funds the provider collected and owes us.
    pub provider_clearing: AccountId,
    /// Credit-normal: the merchant's balance (pending = authorized, posted = available).
    pub merchant: AccountId,
    /// Debit-normal: provider fees.
    pub fees: AccountId,
}

/// Turns a transition's effects into ledger commands, in order. `hold_id` is the hold of the
/// object moving the money (the payment's for authorizations, a refund's or a dispute's for
/// money going back); `next_id` gives each other command its id.
pub fn ledger_commands(
    accounts: &PaymentAccounts,
    hold_id: &TransactionId,
    effects: &[LedgerEffect],
    mut next_id: impl FnMut() -> TransactionId,
) -> Vec<LedgerCommand> {
    effects
        .iter()
        .map(|effect| match *effect {
            LedgerEffect::Fee { amount } => LedgerCommand::Transfer(NewTransaction::new(
                next_id(),
                Entry::transfer(
                    &accounts.fees,
                    &accounts.provider_clearing,
                    amount,
                    &accounts.asset,
                )
                .to_vec(),
            )),
            LedgerEffect::Hold { amount } => LedgerCommand::Hold(NewHold {
                id: hold_id.clone(),
                entries: Entry::transfer(
                    &accounts.provider_clearing,
                    &accounts.merchant,
                    amount,
                    &accounts.asset,
                )
                .to_vec(),
                expires_at: None,
                metadata: Default::default(),
            }),
            LedgerEffect::Capture {
                amount,
                release_rest,
            } => LedgerCommand::PostHold(PostHold {
                id: next_id(),
                hold_id: hold_id.clone(),
                amount: PostAmount::Amount(amount),
                release_remainder: release_rest,
                effective_at: None,
                metadata: Default::default(),
            }),
            LedgerEffect::Release => LedgerCommand::VoidHold(VoidHold {
                id: next_id(),
                hold_id: hold_id.clone(),
                metadata: Default::default(),
            }),
            LedgerEffect::HoldReturn { amount } => LedgerCommand::Hold(NewHold {
                id: hold_id.clone(),
                entries: Entry::transfer(
                    &accounts.merchant,
                    &accounts.provider_clearing,
                    amount,
                    &accounts.asset,
                )
                .to_vec(),
                expires_at: None,
                metadata: Default::default(),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::ledger::model::{Direction, NewAccount};
    use crate::memory::MemoryStore;
    use crate::payments::state::{
        CancellationReason, CaptureMethod, PaymentAction, PaymentState, transition,
    };
    use crate::testing::test_ledger;

    fn action(kind: u8, amount: i128, flag: bool) -> PaymentAction {
        match kind % 10 {
            0 => PaymentAction::AttachPaymentMethod,
            1 => PaymentAction::Confirm,
            2 => PaymentAction::RequireAction,
            3 => PaymentAction::CompleteAction,
            4 => PaymentAction::Authorize { amount },
            5 => PaymentAction::Capture {
                amount,
                final_capture: flag,
            },
            6 => PaymentAction::Cancel {
                reason: CancellationReason::RequestedByCustomer,
            },
            7 => PaymentAction::Expire,
            8 => PaymentAction::Abort,
            _ => PaymentAction::Refund { amount },
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// For random histories of several payments of one merchant, the ledger agrees with the
        /// payments: merchant posted = Σ captured − Σ refunded, merchant pending = Σ still
        /// capturable, and nothing is left pending once every payment is final.
        #[test]
        fn ledger_agrees_with_payments(
            payments in proptest::collection::vec(
                (1i128..1000, any::<bool>(),
                 proptest::collection::vec((0u8..10, 1i128..600, any::<bool>()), 0..25)),
                1..5,
            ),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let (ledger, _) = test_ledger(Arc::new(MemoryStore::new()), 3).await;
                let asset = AssetCode::new("USD").unwrap();
                let open = |normal| NewAccount::new(ledger.new_account_id(), asset.clone(), normal);
                let accounts = PaymentAccounts {
                    asset: asset.clone(),
                    provider_clearing: ledger.create_account(open(Direction::Debit)).await.unwrap().id,
                    merchant: ledger.create_account(open(Direction::Credit)).await.unwrap().id,
                    fees: ledger.create_account(open(Direction::Debit)).await.unwrap().id,
                };
                let (mut captured, mut refunded, mut capturable) = (0i128, 0i128, 0i128);
                for (amount, automatic, actions) in payments {
                    let method = if automatic { CaptureMethod::Automatic } else { CaptureMethod::Manual };
                    let mut state = PaymentState::new(amount, method).unwrap();
                    let hold_id = ledger.new_transaction_id();
                    for (kind, value, flag) in actions {
                        let Ok(step) = transition(&state, action(kind, value, flag)) else {
                            continue;
                        };
                        let mut commands = ledger_commands(&accounts, &hold_id, &step.effects, || {
                            ledger.new_transaction_id()
                        });
                        // A refund settles at once here: hold the money going back, post it.
                        if let PaymentAction::Refund { amount } = action(kind, value, flag) {
                            let refund_hold = ledger.new_transaction_id();
                            let settle = [
                                LedgerEffect::HoldReturn { amount },
                                LedgerEffect::Capture { amount, release_rest: true },
                            ];
                            commands.extend(ledger_commands(&accounts, &refund_hold, &settle, || {
                                ledger.new_transaction_id()
                            }));
                        }
                        for command in commands {
                            ledger.submit(command).await.unwrap();
                        }
                        state = step.next;
                    }
                    captured += state.captured;
                    refunded += state.refunded;
                    capturable += state.capturable();
                }
                let merchant = ledger.balance(&accounts.merchant).await.unwrap();
                prop_assert_eq!(merchant.posted(Direction::Credit), captured - refunded);
                prop_assert_eq!(merchant.credits_pending, capturable);
                Ok(())
            })?;
        }
    }
}
