//! The storage seam. Each backend (memory, SQLite, PostgreSQL) implements these traits and
//! passes the shared conformance suite (`obol_core::testing`, feature `testing`).

use async_trait::async_trait;

use crate::auth::api_key::ApiKey;
use crate::auth::keyring::KeyRecord;
use crate::auth::session::Session;
use crate::auth::user::User;
use crate::clock::Timestamp;
use crate::error::Result;
use crate::id::{
    AccountId, ApiKeyId, CustomerId, EndpointId, EventId, MerchantId, PaymentId, PaymentMethodId,
    SessionId, TransactionId, UserId,
};
use crate::idempotency::Claim;
use crate::ledger::batch::Submission;
use crate::ledger::model::{Account, AssetTotals, Balance, HistoryEntry, Hold, Transaction};
use crate::money::Asset;
use crate::payments::children::Child;
use crate::payments::customers::{Customer, SavedMethod};
use crate::payments::model::{EventQuery, Payment, PaymentQuery, PaymentWrite, StoredEvent};
use crate::payments::state::PaymentStatus;
use crate::webhooks::StoredSecret;
use crate::webhooks::model::{
    AttemptOutcome, Delivery, DeliveryAttempt, DeliveryBacklog, WebhookEndpoint,
};

/// Ledger persistence. Writes arrive in batches from the ledger's single writer task; a store
/// applies a batch with [`crate::ledger::batch::apply`] inside one database transaction.
#[async_trait]
pub trait LedgerStore: Send + Sync + std::fmt::Debug {
    /// How many write batches may run at once. One unless the database serialises
    /// conflicting batches itself (row locks), as PostgreSQL does.
    fn concurrent_batches(&self) -> usize {
        1
    }

    /// Answers when the database is reachable and every migration this build knows has run
    /// (readiness); an in-memory store always is.
    async fn ready(&self) -> Result<()> {
        Ok(())
    }

    /// Saves a custom asset definition (the caller has checked it against the registry).
    async fn save_asset(&self, asset: &Asset) -> Result<()>;

    /// All custom assets saved so far.
    async fn custom_assets(&self) -> Result<Vec<Asset>>;

    /// Inserts the account unless its id exists; returns the stored account either way.
    async fn insert_account(&self, account: &Account) -> Result<Account>;

    /// An account and its balance.
    async fn account(&self, id: &AccountId) -> Result<Option<(Account, Balance)>>;

    /// Marks an account closed; returns it, or `None` if unknown.
    async fn close_account(&self, id: &AccountId) -> Result<Option<Account>>;

    /// Applies a batch atomically and durably: one result per submission, in order. An `Err`
    /// of the whole call means nothing of the batch was kept.
    async fn write_batch(
        &self,
        batch: &[Submission],
        now: Timestamp,
    ) -> Result<Vec<Result<Transaction>>>;

    /// A committed transaction (failed ids are not transactions).
    async fn transaction(&self, id: &TransactionId) -> Result<Option<Transaction>>;

    /// A hold.
    async fn hold(&self, id: &TransactionId) -> Result<Option<Hold>>;

    /// Posted entries of an account after `after_sequence`, oldest first, at most `limit`.
    async fn history(
        &self,
        account: &AccountId,
        after_sequence: Option<i64>,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>>;

    /// Posted debits and credits of an account whose `effective_at` is at or before `at`.
    async fn posted_at(&self, account: &AccountId, at: Timestamp) -> Result<(i128, i128)>;

    /// Pending holds whose timeout is at or before `now`, at most `limit`.
    async fn due_holds(&self, now: Timestamp, limit: u32) -> Result<Vec<TransactionId>>;

    /// Balance fields summed over all accounts, per asset.
    async fn asset_totals(&self) -> Result<Vec<AssetTotals>>;
}

/// Payment persistence. Each change is one [`PaymentWrite`]: the payment row, its ledger
/// commands and its outbox events, applied in one database transaction.
#[async_trait]
pub trait PaymentStore: Send + Sync + std::fmt::Debug {
    /// Applies a payment change atomically. The stored version of the payment and of each
    /// child must equal its expected version (a new one's id must be free), else
    /// [`crate::Error::Contention`] and nothing is written. Every ledger command must succeed;
    /// if one fails, its error is returned and nothing is written. The write's `answer`, if
    /// any, is stored as its key's response in the same transaction, unless the key has one
    /// already (the first answer stands).
    async fn write_payment(&self, write: PaymentWrite, now: Timestamp) -> Result<()>;

    /// A payment.
    async fn payment(&self, id: &PaymentId) -> Result<Option<Payment>>;

    /// The payment whose current charge at `provider` is `reference`.
    async fn payment_by_reference(
        &self,
        provider: &str,
        reference: &str,
    ) -> Result<Option<Payment>>;

    /// Payments in a status, oldest change first, at most `limit` (for recovery and sync).
    async fn payments_with_status(&self, status: PaymentStatus, limit: u32)
    -> Result<Vec<Payment>>;

    /// Outbox events after position `after`, in order, at most `limit`.
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<StoredEvent>>;

    /// One merchant's payments, newest first, filtered and paged as the query says.
    async fn list_payments(&self, query: &PaymentQuery) -> Result<Vec<Payment>>;

    /// One merchant's events (optionally one payment's), in order, after a position.
    async fn merchant_events(&self, query: &EventQuery) -> Result<Vec<StoredEvent>>;

    /// A refund or dispute by id.
    async fn child(&self, id: &str) -> Result<Option<Child>>;

    /// A payment's refunds and disputes, oldest first.
    async fn children(&self, payment: &PaymentId) -> Result<Vec<Child>>;

    /// Refunds or disputes (`kind`) in a status, oldest change first, at most `limit`.
    async fn children_with_status(
        &self,
        kind: &str,
        status: &str,
        limit: u32,
    ) -> Result<Vec<Child>>;
}

/// Idempotency keys (see [`crate::idempotency`]).
#[async_trait]
pub trait IdempotencyStore: Send + Sync + std::fmt::Debug {
    /// Atomically claims `key` for a request with `request_hash`, until `lease_until`: a new
    /// key, or one whose holder's lease ran out (same hash), is `Started`.
    async fn claim_key(
        &self,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Claim>;

    /// Stores the final response of a claimed key. A claim made after this returns sees
    /// the response; a store may make it durable later than that, because a completion lost
    /// in a crash leaves the key to its lease, as a process that died mid-request does (see
    /// [`crate::idempotency`] for why running such a request again is safe).
    async fn complete_key(&self, key: &str, response: &str) -> Result<()>;

    /// Lets an unfinished claim go at once (the request failed in a retryable way): its lease
    /// lapses, so a retry takes the key over, learning when it was first claimed and that an
    /// earlier request held it (it may have made something, even charged a card).
    async fn release_key(&self, key: &str) -> Result<()>;
}

/// Webhook endpoints, deliveries and attempts (see [`crate::webhooks`]).
#[async_trait]
pub trait WebhookStore: Send + Sync + std::fmt::Debug {
    /// Adds an endpoint, or updates its URL and enabled flag.
    async fn save_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<()>;

    /// Every endpoint, oldest first.
    async fn endpoints(&self, merchant: &MerchantId) -> Result<Vec<WebhookEndpoint>>;

    /// Every endpoint's secret as stored, of every merchant (for a rewrap).
    async fn endpoint_secrets(&self) -> Result<Vec<(EndpointId, StoredSecret)>>;

    /// Replaces the stored secret of `endpoint` by `sealed` if it is still `before`; false,
    /// writing nothing, when the endpoint is gone or its secret changed meanwhile.
    async fn reseal_endpoint_secret(
        &self,
        endpoint: &EndpointId,
        before: &str,
        sealed: &str,
    ) -> Result<bool>;

    /// Creates a pending delivery, due `now`, for each of up to `limit` outbox events not yet
    /// fanned out and each enabled endpoint; returns how many deliveries were created.
    async fn fan_out_events(&self, limit: u32, now: Timestamp) -> Result<usize>;

    /// Claims pending deliveries due at `now`, oldest first, at most `limit`: each is pushed to
    /// `lease_until`, so another worker does not send it meanwhile (and a worker that dies
    /// mid-send leaves it to be retried then).
    async fn due_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Delivery>>;

    /// Records an attempt and what it leads to, atomically.
    async fn record_attempt(&self, outcome: &AttemptOutcome) -> Result<()>;

    /// Every attempt to deliver an event, in order.
    async fn delivery_attempts(&self, event_id: &EventId) -> Result<Vec<DeliveryAttempt>>;

    /// How many deliveries are pending, and since when the oldest one due at `now` waits.
    async fn delivery_backlog(&self, now: Timestamp) -> Result<DeliveryBacklog>;
}

/// Customers and their saved payment methods.
#[async_trait]
pub trait CustomerStore: Send + Sync + std::fmt::Debug {
    /// Inserts the customer unless its id exists; returns the stored customer either way.
    async fn insert_customer(&self, customer: &Customer) -> Result<Customer>;

    /// A customer.
    async fn customer(&self, id: &CustomerId) -> Result<Option<Customer>>;

    /// Saves a payment method, or updates its `detached` flag.
    async fn save_method(&self, method: &SavedMethod) -> Result<()>;

    /// A saved payment method.
    async fn saved_method(&self, id: &PaymentMethodId) -> Result<Option<SavedMethod>>;

    /// A customer's saved payment methods, oldest first (detached ones included).
    async fn saved_methods(&self, customer: &CustomerId) -> Result<Vec<SavedMethod>>;
}

/// Auth: API keys (users, sessions and signing keys join here).
#[async_trait]
pub trait AuthStore: Send + Sync + std::fmt::Debug {
    /// Stores a new API key (its hash is unique).
    async fn insert_api_key(&self, key: &ApiKey) -> Result<()>;

    /// The key with this hash.
    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>>;

    /// A tenant's keys, oldest first (revoked ones included).
    async fn api_keys(&self, merchant: &MerchantId) -> Result<Vec<ApiKey>>;

    /// Marks a tenant's key revoked at `at` (once); returns it, or `None` if the tenant has no
    /// such key.
    async fn revoke_api_key(
        &self,
        merchant: &MerchantId,
        id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<Option<ApiKey>>;

    /// Stores a new user; `email_taken` if the tenant has a user with this email.
    async fn insert_user(&self, user: &User) -> Result<()>;

    /// A tenant's user.
    async fn user(&self, merchant: &MerchantId, id: &UserId) -> Result<Option<User>>;

    /// A tenant's user by normalised email.
    async fn user_by_email(&self, merchant: &MerchantId, email: &str) -> Result<Option<User>>;

    /// Replaces a user whose stored version is `expected_version` (else contention);
    /// `email_taken` if the new email belongs to another user of the tenant.
    async fn update_user(&self, user: &User, expected_version: i64) -> Result<()>;

    /// Deletes a tenant's user; false if there was none.
    async fn delete_user(&self, merchant: &MerchantId, id: &UserId) -> Result<bool>;

    /// Atomically: forgets every sign-in attempt older than `since` (under any key, so the
    /// table stays bounded by the window); then, if each limit's key has fewer than its
    /// `allowed` attempts at or after `since`, records `attempt` at `at` under every key and
    /// answers [`LoginReservation::Reserved`]; otherwise records nothing and answers when the
    /// oldest counted attempt of the first full key was made.
    async fn reserve_login_attempt(
        &self,
        attempt: &str,
        limits: &[AttemptLimit],
        since: Timestamp,
        at: Timestamp,
    ) -> Result<LoginReservation>;

    /// Forgets `attempt` under every key (it succeeded), and every attempt under `clear`.
    async fn release_login_attempt(&self, attempt: &str, clear: &str) -> Result<()>;

    /// Stores a new session (its refresh hash is unique).
    async fn insert_session(&self, session: &Session) -> Result<()>;

    /// The session whose refresh token has this hash.
    async fn session_by_refresh_hash(&self, hash: &str) -> Result<Option<Session>>;

    /// A session by id.
    async fn session(&self, id: &SessionId) -> Result<Option<Session>>;

    /// Atomically marks `old` rotated at `at` and stores `new`, if `old` is still live
    /// (not rotated or revoked); false, writing nothing, otherwise.
    async fn rotate_session(&self, old: &SessionId, new: &Session, at: Timestamp) -> Result<bool>;

    /// Revokes every session of a family at `at`.
    async fn revoke_family(&self, family: &SessionId, at: Timestamp) -> Result<()>;

    /// Every signing key record, oldest first.
    async fn signing_keys(&self) -> Result<Vec<KeyRecord>>;

    /// Stores a new signing key, and retires `retire` (the key it replaces) at the new key's
    /// activation, atomically.
    async fn add_signing_key(&self, record: &KeyRecord, retire: Option<&str>) -> Result<()>;

    /// Replaces the sealed private key of `kid` by `sealed` if it is still `before` (a
    /// rewrap); false, writing nothing, when the key is gone or was sealed again meanwhile.
    async fn reseal_signing_key(&self, kid: &str, before: &str, sealed: &str) -> Result<bool>;

    /// Revokes every session of a user at `at`, except the family `except` (the session
    /// that asked, say, for a password change).
    async fn revoke_user_sessions(
        &self,
        merchant: &MerchantId,
        user: &UserId,
        except: Option<&SessionId>,
        at: Timestamp,
    ) -> Result<()>;
}

/// One limit a sign-in attempt counts against: at most `allowed` attempts under `key` in the
/// window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptLimit {
    /// The counter (a fixed-size hash).
    pub key: String,
    /// Attempts allowed in the window.
    pub allowed: u32,
}

/// What reserving a sign-in attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginReservation {
    /// The attempt is recorded; go ahead.
    Reserved,
    /// A limit is full; nothing was recorded. `oldest` is when that limit's oldest counted
    /// attempt was made (the window frees a slot when it ages out).
    Refused {
        /// The oldest attempt under the full key.
        oldest: Timestamp,
    },
}

/// Everything the engine stores. New areas (auth) join as further supertraits.
pub trait Store:
    LedgerStore + PaymentStore + IdempotencyStore + WebhookStore + CustomerStore + AuthStore
{
}

impl<T> Store for T where
    T: LedgerStore + PaymentStore + IdempotencyStore + WebhookStore + CustomerStore + AuthStore
{
}

/// Readiness from migration counts: ready once `applied` covers every one of the `known`
/// migrations this build ships (the SQL stores count their `_sqlx_migrations` rows).
pub fn migrations_ready(applied: i64, known: usize) -> Result<()> {
    let known = i64::try_from(known).unwrap_or(i64::MAX);
    if applied < known {
        return Err(crate::Error::unavailable(format!(
            "{applied} of {known} migrations applied; run `obol migrate`"
        )));
    }
    Ok(())
}
