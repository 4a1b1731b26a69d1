//! The Store conformance suites (ledger, payments, webhooks, auth and tenancy) and the
//! model-based property tests: every backend runs them all through
//! [`crate::store_conformance!`].

pub mod auth;
pub mod conformance;
pub mod faulty;
pub mod model;
pub mod payment_model;
pub mod payments;
pub mod providers;
pub mod tenancy;
pub mod webhooks;

use std::sync::Arc;

use crate::clock::{ManualClock, Timestamp};
use crate::id::RandomIdGen;
use crate::ledger::{Ledger, LedgerConfig};
use crate::store::Store;

/// The time test ledgers start at (2026-01-01T00:00:00Z).
pub const START: Timestamp = Timestamp::from_micros(1_767_225_600_000_000);

/// A ledger over `store` with a manual clock and seeded ids, for deterministic tests.
pub async fn test_ledger(store: Arc<dyn Store>, seed: u64) -> (Ledger, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(START));
    let config = LedgerConfig {
        clock: clock.clone(),
        ids: Arc::new(RandomIdGen::seeded(clock.clone(), seed)),
        writer: Default::default(),
    };
    match Ledger::open(store, config).await {
        Ok(ledger) => (ledger, clock),
        Err(error) => panic!("opening the test ledger failed: {error}"),
    }
}

/// Makes a fresh, empty store for one test case.
pub type StoreFactory = dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Arc<dyn Store>> + Send>>
    + Send
    + Sync;

/// Runs a model-based property test: `OBOL_MODEL_CASES` cases (else `default_cases`), each a
/// sequence from `ops` run by `case` on a fresh store, on a two-thread runtime.
pub fn run_model<S: proptest::strategy::Strategy>(
    default_cases: u32,
    ops: S,
    factory: impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Arc<dyn Store>> + Send>>,
    case: impl Fn(
        Arc<dyn Store>,
        S::Value,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<(), proptest::test_runner::TestCaseError>>>,
    >,
) {
    use proptest::test_runner::{Config, TestRunner};
    let cases = std::env::var("OBOL_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => panic!("no test runtime: {error}"),
    };
    let result = runner.run(&ops, |value| {
        runtime.block_on(async { case(factory().await, value).await })
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// Expands to one `#[tokio::test]` per conformance case of every area (ledger, payments,
/// webhooks, auth, tenancy) and the model-based property tests, each calling
/// `$factory().await` for a fresh, empty store (`Arc<dyn Store>`).
#[macro_export]
macro_rules! store_conformance {
    ($factory:ident) => {
        $crate::store_conformance!(@cases $factory;
            accounts_are_idempotent,
            transfers_move_balances_and_history,
            history_pages_with_a_cursor,
            insufficient_funds_changes_nothing_and_stays_failed,
            same_id_replays_and_different_body_conflicts,
            holds_post_in_parts_void_and_expire,
            reversals_undo_once,
            bad_input_is_refused_and_changes_nothing,
            failures_in_a_batch_fail_alone,
            many_commands_in_one_request_answer_in_order,
            a_large_request_is_written_whole,
            concurrent_transfers_keep_totals,
            balance_at_a_point_in_time,
            huge_amounts_are_stored_exactly,
            metadata_round_trips,
        );
        $crate::store_conformance!(@payments $factory;
            manual_capture_in_parts_and_refund,
            declines_then_another_card_succeeds,
            three_d_secure_then_success,
            refusals_change_nothing,
            create_is_idempotent,
            expiry_releases_the_authorization,
            timeouts_settle_by_status_sync,
            a_crash_around_the_provider_call_never_charges_twice,
            concurrent_captures_never_overcapture,
            idempotency_keys_follow_the_contract,
            idempotency_claims_at_once_keep_the_contract,
            identical_requests_with_one_key_run_once,
            disputes_hold_then_return_or_take_the_money,
            refunds_fail_cancel_or_settle_later,
            provider_webhooks_apply_once,
            customers_keep_tokens_only_and_pay_with_them,
            stale_payments_expire,
            a_crash_after_a_provider_capture_never_captures_twice,
            confirm_falls_back_when_a_provider_is_down,
            payments_and_events_list_per_merchant_with_filters_and_pages,
            create_with_a_method_is_one_write,
            create_and_confirm_writes_the_creation_with_the_first_attempt,
            the_write_of_a_providers_answer_stores_the_requests_answer,
        );
        $crate::store_conformance!(@webhooks $factory;
            webhooks_retry_sign_and_stop_on_gone,
            many_deliveries_in_one_pass_are_each_recorded_once,
            endpoint_secrets_are_sealed_and_sealed_again,
        );
        $crate::store_conformance!(@auth $factory;
            api_keys_authenticate_until_revoked_or_expired,
            users_sign_in_with_limits_and_tenancy,
            sessions_rotate_detect_reuse_and_end,
            access_tokens_verify_rotate_and_end_with_the_session,
            rs256_keys_sealed_before_the_upgrade_sign_and_rotate,
            signing_keys_are_sealed_again_under_a_new_key,
            sign_in_attempts_older_than_the_window_are_forgotten_under_every_key,
        );
        $crate::store_conformance!(@tenancy $factory;
            merchants_never_reach_each_others_payments_customers_or_events,
            provider_tokens_are_good_for_their_merchant_only,
            scopes_hold_and_are_never_granted_beyond_their_holder,
            the_engines_own_accounts_are_out_of_reach,
            test_and_live_mode_stay_apart,
            keyed_requests_are_kept_per_tenant,
            a_keyed_payment_taken_over_is_found_not_made_again,
            a_keyed_sign_up_keeps_no_guessable_password_hash,
        );
    };
    (@tenancy $factory:ident; $($name:ident),* $(,)?) => {
        mod tenancy_store_conformance {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::testing::tenancy::$name(super::$factory().await).await;
                }
            )*
        }
    };
    (@auth $factory:ident; $($name:ident),* $(,)?) => {
        mod auth_store_conformance {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::testing::auth::$name(super::$factory().await).await;
                }
            )*
        }
    };
    (@webhooks $factory:ident; $($name:ident),* $(,)?) => {
        mod webhook_store_conformance {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::testing::webhooks::$name(super::$factory().await).await;
                }
            )*
        }
    };
    (@payments $factory:ident; $($name:ident),* $(,)?) => {
        mod payment_store_conformance {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::testing::payments::$name(super::$factory().await).await;
                }
            )*

            #[test]
            fn payments_match_the_reference_model() {
                $crate::testing::payment_model::check_payments(|| {
                    Box::pin(async { super::$factory().await })
                });
            }
        }
    };
    (@cases $factory:ident; $($name:ident),* $(,)?) => {
        mod ledger_store_conformance {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::testing::conformance::$name(super::$factory().await).await;
                }
            )*

            #[test]
            fn matches_the_reference_model() {
                $crate::testing::model::check(|| Box::pin(async { super::$factory().await }));
            }
        }
    };
}
