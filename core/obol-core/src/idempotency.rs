//! Idempotency keys with Stripe's contract: the first result of a key is stored and replayed;
//! the same key with different parameters is `idempotency_conflict`; a key whose request is
//! still running is `idempotency_in_progress` (retryable). A request that failed with a
//! retryable error stores no answer and lets its claim lapse, so retrying it (with the same
//! parameters; others are a conflict) runs it again as a takeover: a payment is named after the
//! first claim, so the retry finds the payment the failed attempt made (and perhaps charged)
//! instead of making another. A claim whose lease ran out
//! (its process died) may be taken over: every step the request takes is itself guarded by
//! the payment state machine and the provider's idempotency, so running it again is safe.
//!
//! A request that answers with a payment ([`run_payment_once`]: create and pay, confirm,
//! complete an action, capture, cancel, expire) stores its answer with the payment write that
//! records the provider's answer, its last write, in that write's transaction
//! ([`KeyAnswer`]); it writes the answer again only if it ends with another one. On
//! PostgreSQL a request so waits for one commit fewer (SQLite's completion never made a
//! request wait: it saves a job of the writer thread), and on every store a crash after that
//! write leaves the answer stored, not a lease to run out and a request to run again. Should
//! a request still fail after such a write with a retryable error, the stored answer stands:
//! the payment it describes is written.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ledger::codec::{from_json, to_json};
use crate::payments::Payment;
use crate::store::Store;

/// How long a claim holds before another process may take it over.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// Keys are 1–255 printable ASCII characters (Stripe allows 255).
const MAX_KEY_LEN: usize = 255;

/// What the store found when a request claimed its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is now this request's: run it. `claimed_at` is when the key was first
    /// claimed, the same for a request that takes over a lapsed lease, so the request can
    /// name what it makes after it (`None` for a key claimed before stores kept that time).
    Started {
        /// When the key's first request claimed it.
        claimed_at: Option<Timestamp>,
        /// An earlier request held the key and its lease ran out: it may have made something
        /// already, which this request must find rather than make again.
        taken_over: bool,
    },
    /// Another request holds the key and its lease has not run out.
    InProgress,
    /// The key finished before: the stored response (JSON of `Result<T, Error>`).
    Completed(String),
    /// The key was used with different parameters.
    Conflict,
}

impl Claim {
    /// The claim on a key nobody held before, claimed `now`.
    pub fn first(now: Timestamp) -> Claim {
        Claim::Started {
            claimed_at: Some(now),
            taken_over: false,
        }
    }

    /// The claim on a key that already has a record, first claimed at `claimed_at`;
    /// `Started` means the caller takes over the lapsed lease and must store the new lease.
    pub fn of_existing(
        stored_hash: &str,
        response: Option<String>,
        lease_until: Timestamp,
        claimed_at: Option<Timestamp>,
        request_hash: &str,
        now: Timestamp,
    ) -> Claim {
        if stored_hash != request_hash {
            Claim::Conflict
        } else if let Some(response) = response {
            Claim::Completed(response)
        } else if lease_until > now {
            Claim::InProgress
        } else {
            Claim::Started {
                claimed_at,
                taken_over: true,
            }
        }
    }
}

/// What a request running under a key knows of its claim (see [`run_once`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claimed {
    /// When the key was first claimed: `None` without a key, or for a key claimed before
    /// stores kept that time.
    pub at: Option<Timestamp>,
    /// An earlier request held the key (see [`Claim::Started`]); never without a key.
    pub taken_over: bool,
}

impl Claimed {
    /// A request run without a key: nothing was made for it before.
    pub const UNKEYED: Claimed = Claimed {
        at: None,
        taken_over: false,
    };
}

/// A key's answer, stored by the payment write that gives it, in that write's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAnswer {
    /// The key, as [`run_payment_once`] was given it (a tenant's keys come scoped to it).
    pub key: String,
    /// The stored response: JSON of the request's `Result<T, Error>`.
    pub response: String,
}

/// The key of the request running on a task, and the answer a write stored for it.
#[derive(Debug)]
struct AnswerSlot {
    key: String,
    stored: Mutex<Option<String>>,
}

impl AnswerSlot {
    fn stored(&self) -> Option<String> {
        self.stored
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

tokio::task_local! {
    /// Set by [`run_payment_once`] while its request runs: the payment write that gives the
    /// request's answer stores it too (a write on another task knows no key and stores none).
    static RUNNING_KEY: Arc<AnswerSlot>;
}

/// The answer `payment` gives the keyed request running on this task, for the write that
/// stores the payment to store with it (`None` outside [`run_payment_once`]).
pub(crate) fn answer_of(payment: &Payment) -> Result<Option<KeyAnswer>> {
    let Ok(key) = RUNNING_KEY.try_with(|slot| slot.key.clone()) else {
        return Ok(None);
    };
    let response = to_json(&Ok::<_, Error>(payment))?;
    Ok(Some(KeyAnswer { key, response }))
}

/// Notes that `answer`'s write committed, so [`run_payment_once`] need not store it again.
pub(crate) fn answer_stored(answer: KeyAnswer) {
    // Outside the request (another task) there is nothing to tell.
    let _ = RUNNING_KEY.try_with(|slot| {
        if slot.key == answer.key {
            *slot.stored.lock().unwrap_or_else(PoisonError::into_inner) = Some(answer.response);
        }
    });
}

/// Hex SHA-256 of a request's canonical JSON.
pub fn request_hash(request: &impl Serialize) -> Result<String> {
    Ok(hex::encode(Sha256::digest(to_json(request)?.as_bytes())))
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::InvalidId {
            input: key.chars().take(64).collect(),
            reason: "an idempotency key is 1 to 255 printable ASCII characters".into(),
        });
    }
    Ok(())
}

/// Runs `work` at most once per `key` (see the module docs), replaying its stored result.
/// `work` is told when the key was first claimed and whether an earlier request held it.
pub async fn run_once<T, F, Fut>(
    store: &dyn Store,
    key: &str,
    request: &impl Serialize,
    now: Timestamp,
    work: F,
) -> Result<T>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce(Claimed) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    run_keyed(store, key, request, now, work, None).await
}

/// [`run_once`] for a request that answers with a payment: the payment write that records a
/// provider's answer (its last write) stores the answer with it, so the request does not
/// commit it again (see the module docs).
pub async fn run_payment_once<F, Fut>(
    store: &dyn Store,
    key: &str,
    request: &impl Serialize,
    now: Timestamp,
    work: F,
) -> Result<Payment>
where
    F: FnOnce(Claimed) -> Fut,
    Fut: Future<Output = Result<Payment>>,
{
    let slot = Arc::new(AnswerSlot {
        key: key.to_owned(),
        stored: Mutex::new(None),
    });
    run_keyed(store, key, request, now, work, Some(slot)).await
}

/// [`run_once`], with `slot` set while `work` runs when its writes may store its answer.
async fn run_keyed<T, F, Fut>(
    store: &dyn Store,
    key: &str,
    request: &impl Serialize,
    now: Timestamp,
    work: F,
    slot: Option<Arc<AnswerSlot>>,
) -> Result<T>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce(Claimed) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    check_key(key)?;
    let hash = request_hash(request)?;
    match store
        .claim_key(key, &hash, now, now.plus(DEFAULT_LEASE))
        .await?
    {
        Claim::Conflict => Err(Error::IdempotencyConflict { id: key.to_owned() }),
        Claim::InProgress => Err(Error::IdempotencyInProgress {
            key: key.to_owned(),
        }),
        Claim::Completed(stored) => from_json::<Result<T>>(&stored)?,
        Claim::Started {
            claimed_at,
            taken_over,
        } => {
            let running = work(Claimed {
                at: claimed_at,
                taken_over,
            });
            let result = match &slot {
                Some(slot) => RUNNING_KEY.scope(slot.clone(), running).await,
                None => running.await,
            };
            match &result {
                Err(error) if error.is_retryable() => store.release_key(key).await?,
                _ => {
                    let response = to_json(&result)?;
                    // Stored already by the write that gave it; another answer replaces it.
                    let stored = slot.as_ref().and_then(|slot| slot.stored());
                    if stored.as_ref() != Some(&response) {
                        store.complete_key(key, &response).await?;
                    }
                }
            }
            result
        }
    }
}
