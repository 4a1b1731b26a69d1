//! The engine's one error type, each variant with a stable machine code.

use serde::{Deserialize, Serialize};

/// Result alias used across the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure the engine reports. Variants carry plain data only, so an error can be stored
/// (a failed transaction id replays its first error) and sent across any edge unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Error {
    /// An amount is zero, negative where not allowed, or otherwise unusable.
    #[error("invalid amount: {reason}")]
    InvalidAmount {
        /// Why the amount was refused.
        reason: String,
    },
    /// Arithmetic on amounts or balances left the representable range.
    #[error("amount overflow")]
    Overflow,
    /// A decimal string could not be read as money.
    #[error("invalid money string {input:?}: {reason}")]
    InvalidMoney {
        /// The text that was given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A decimal amount has more fractional digits than its asset's scale.
    #[error("too many decimals for {asset}: scale is {scale}")]
    TooManyDecimals {
        /// The asset code.
        asset: String,
        /// The asset's scale.
        scale: u8,
    },
    /// The asset code is not known to the engine.
    #[error("unknown asset {asset}")]
    UnknownAsset {
        /// The asset code.
        asset: String,
    },
    /// An asset definition is malformed or conflicts with an existing one.
    #[error("invalid asset: {reason}")]
    InvalidAsset {
        /// Why the asset was refused.
        reason: String,
    },
    /// An id could not be parsed (wrong prefix, length or alphabet).
    #[error("invalid id {input:?}: {reason}")]
    InvalidId {
        /// The text that was given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Metadata exceeds the limits (keys, key length, value length).
    #[error("invalid metadata: {reason}")]
    InvalidMetadata {
        /// Which limit was broken.
        reason: String,
    },
    /// An account definition is malformed (bad limit, contradictory flags).
    #[error("invalid account: {reason}")]
    InvalidAccount {
        /// Why the account was refused.
        reason: String,
    },
    /// A transaction has no entries or too many.
    #[error("invalid transaction: {reason}")]
    InvalidTransaction {
        /// Why the transaction was refused.
        reason: String,
    },
    /// Debits and credits of a transaction differ for one asset.
    #[error("unbalanced transaction: {asset} debits {debits} != credits {credits}")]
    Unbalanced {
        /// The asset that does not balance.
        asset: String,
        /// Total debits of that asset, in minor units.
        debits: String,
        /// Total credits of that asset, in minor units.
        credits: String,
    },
    /// An entry's asset differs from its account's asset.
    #[error("asset mismatch on {account}: account holds {account_asset}, entry is {entry_asset}")]
    AssetMismatch {
        /// The account id.
        account: String,
        /// The account's asset.
        account_asset: String,
        /// The entry's asset.
        entry_asset: String,
    },
    /// The account does not exist.
    #[error("account {account} not found")]
    AccountNotFound {
        /// The account id.
        account: String,
    },
    /// The account is closed to new movements.
    #[error("account {account} is closed")]
    AccountClosed {
        /// The account id.
        account: String,
    },
    /// The movement would take a flagged account past its limit (pending holds counted).
    #[error("insufficient funds on {account}")]
    InsufficientFunds {
        /// The account id.
        account: String,
    },
    /// The same id was used before with a different body.
    #[error("idempotency conflict on {id}: the id was used with a different request")]
    IdempotencyConflict {
        /// The reused id.
        id: String,
    },
    /// The transaction does not exist.
    #[error("transaction {id} not found")]
    TransactionNotFound {
        /// The transaction id.
        id: String,
    },
    /// The hold does not exist.
    #[error("hold {id} not found")]
    HoldNotFound {
        /// The hold's transaction id.
        id: String,
    },
    /// The hold was already fully posted, voided or expired.
    #[error("hold {id} is {status}, not pending")]
    HoldNotPending {
        /// The hold's transaction id.
        id: String,
        /// Its current status.
        status: String,
    },
    /// The hold passed its timeout.
    #[error("hold {id} has expired")]
    HoldExpired {
        /// The hold's transaction id.
        id: String,
    },
    /// A post asks for more than remains held.
    #[error("post exceeds the amount held on {id}")]
    ExceedsHold {
        /// The hold's transaction id.
        id: String,
    },
    /// The transaction was already reversed.
    #[error("transaction {id} was already reversed")]
    AlreadyReversed {
        /// The transaction id.
        id: String,
    },
    /// The transaction kind cannot be reversed (holds are voided instead).
    #[error("transaction {id} cannot be reversed: {reason}")]
    NotReversible {
        /// The transaction id.
        id: String,
        /// Why.
        reason: String,
    },
    /// A pagination cursor could not be read.
    #[error("invalid cursor")]
    InvalidCursor,
    /// Concurrent writers collided; retrying the same request is safe.
    #[error("contention: {reason}; retry")]
    Contention {
        /// What collided.
        reason: String,
    },
    /// The store could not be reached or failed; retrying the same request is safe.
    #[error("storage unavailable: {reason}")]
    Unavailable {
        /// A description without secrets.
        reason: String,
    },
    /// The store holds data the engine cannot read (a bug or tampering).
    #[error("corrupt data: {reason}")]
    Corrupt {
        /// What could not be read.
        reason: String,
    },
    /// The store URL or configuration is not usable.
    #[error("invalid configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// A request with this idempotency key is still running; retry later.
    #[error("a request with idempotency key {key:?} is still in progress")]
    IdempotencyInProgress {
        /// The key.
        key: String,
    },
    /// A webhook delivery failed verification (headers, timestamp or signature).
    #[error("webhook signature invalid: {reason}")]
    WebhookSignatureInvalid {
        /// What failed (never the secret or the signature).
        reason: String,
    },
    /// Customer details failed validation.
    #[error("invalid customer: {reason}")]
    InvalidCustomer {
        /// What is wrong.
        reason: String,
    },
    /// No customer has this id.
    #[error("customer {id} not found")]
    CustomerNotFound {
        /// The customer id.
        id: String,
    },
    /// No usable saved payment method has this id (or it belongs to another customer).
    #[error("payment method {id} not found")]
    PaymentMethodNotFound {
        /// The payment method id.
        id: String,
    },
    /// No dispute has this id.
    #[error("dispute {id} not found")]
    DisputeNotFound {
        /// The dispute id.
        id: String,
    },
    /// User details failed validation.
    #[error("invalid user: {reason}")]
    InvalidUser {
        /// What is wrong.
        reason: String,
    },
    /// Another user of the tenant has this email.
    #[error("the email address is taken")]
    EmailTaken,
    /// No user of the tenant has this id.
    #[error("user {id} not found")]
    UserNotFound {
        /// The user id.
        id: String,
    },
    /// No API key of the tenant (in a mode the caller sees) has this id.
    #[error("API key {id} not found")]
    ApiKeyNotFound {
        /// The key id.
        id: String,
    },
    /// Too many failed sign-ins for this account or source; try again later.
    #[error("too many attempts; retry after {retry_after_seconds} s")]
    TooManyAttempts {
        /// Seconds until the oldest counted failure leaves the window.
        retry_after_seconds: u64,
    },
    /// A new password breaks the strength rules.
    #[error("weak password: {reason}")]
    WeakPassword {
        /// The rule it breaks (never the password).
        reason: String,
    },
    /// Credentials were missing, malformed, unknown, expired or revoked (one error for all,
    /// so it tells an attacker nothing).
    #[error("unauthenticated")]
    Unauthenticated,
    /// The principal may not do this here (missing scope or another tenant).
    #[error("forbidden: {reason}")]
    Forbidden {
        /// What is missing.
        reason: String,
    },
    /// No payment has this id.
    #[error("payment {id} not found")]
    PaymentNotFound {
        /// The payment id.
        id: String,
    },
    /// The action is not allowed in the payment's current status.
    #[error("cannot {action} a payment that is {status}")]
    InvalidTransition {
        /// The payment's status.
        status: String,
        /// The refused action.
        action: String,
    },
    /// A capture asks for more than remains authorized.
    #[error("capture exceeds the authorized amount ({remaining} minor units remain)")]
    ExceedsAuthorized {
        /// Minor units still capturable.
        remaining: String,
    },
    /// A refund asks for more than remains captured and unrefunded.
    #[error("refund exceeds the refundable amount ({remaining} minor units remain)")]
    ExceedsRefundable {
        /// Minor units still refundable.
        remaining: String,
    },
    /// Card details failed validation (number, expiry or CVC).
    #[error("invalid card: {reason}")]
    InvalidCard {
        /// What is wrong (never the card data itself).
        reason: String,
    },
    /// The provider declined the payment.
    #[error("card declined ({decline_code})")]
    CardDeclined {
        /// The provider's reason, e.g. `generic_decline`, `insufficient_funds`.
        decline_code: String,
    },
    /// The provider could not be reached or failed; the call did not happen.
    #[error("provider {provider} unavailable: {reason}")]
    ProviderUnavailable {
        /// The provider.
        provider: String,
        /// What happened.
        reason: String,
    },
    /// The provider did not answer in time: the outcome is unknown until a status sync.
    #[error("provider {provider} timed out; the outcome is unknown")]
    ProviderTimeout {
        /// The provider.
        provider: String,
    },
    /// The provider cannot do what was asked (see its capabilities).
    #[error("provider {provider} does not support {capability}")]
    Unsupported {
        /// The provider.
        provider: String,
        /// The missing capability.
        capability: String,
    },
    /// No registered provider handles this asset and payment method type.
    #[error("no provider for {method} payments in {asset}")]
    NoProvider {
        /// The asset.
        asset: String,
        /// The payment method type.
        method: String,
    },
    /// No provider of that name is registered.
    #[error("no provider named {name:?} is registered")]
    ProviderNotFound {
        /// The name asked for.
        name: String,
    },
    /// A payment method the caller may not use: another merchant's token, one no provider
    /// of the caller's mode issued, or card details outside test mode.
    #[error("invalid payment method: {reason}")]
    InvalidPaymentMethod {
        /// Why.
        reason: String,
    },
    /// A payment larger than its asset allows ([`crate::payments::largest_amount`]).
    #[error("amount too large: at most {max} minor units of {asset}")]
    AmountTooLarge {
        /// The asset.
        asset: String,
        /// The largest amount allowed.
        max: i128,
    },
    /// A time that must lie ahead (an expiry) is already past.
    #[error("{what} is in the past")]
    InThePast {
        /// What.
        what: String,
    },
    /// The engine is shutting down and takes no more writes.
    #[error("the ledger is shut down")]
    ShutDown,
    /// A request arrived malformed at a service edge (undecodable fields).
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// What could not be read.
        reason: String,
    },
}

/// The kinds of failure, coarser than codes (see [`Error::class`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The request is malformed or breaks a rule of its own (bad amount, id, field).
    Invalid,
    /// What the request names does not exist (or belongs to another tenant).
    NotFound,
    /// The caller did not prove who it is.
    Unauthenticated,
    /// The caller may not do this.
    Forbidden,
    /// The card or account was declined by the provider.
    Declined,
    /// Too many attempts: wait before trying again.
    RateLimited,
    /// Clashes with another request (an idempotency key, a unique email, a concurrent write).
    Conflict,
    /// Well formed, but the current state forbids it (insufficient funds, a closed account,
    /// a transition the state machine does not allow).
    Rejected,
    /// The provider did not answer in time; the outcome is unknown until status sync.
    Timeout,
    /// A store or provider is unreachable or the engine is shutting down; retry later.
    Unavailable,
    /// Stored data is unreadable: a fault to investigate, not the caller's.
    Internal,
}

impl Error {
    /// The stable machine code of this error, as used in APIs and bindings.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidAmount { .. } => "invalid_amount",
            Error::Overflow => "overflow",
            Error::InvalidMoney { .. } => "invalid_money",
            Error::TooManyDecimals { .. } => "too_many_decimals",
            Error::UnknownAsset { .. } => "unknown_asset",
            Error::InvalidAsset { .. } => "invalid_asset",
            Error::InvalidId { .. } => "invalid_id",
            Error::InvalidMetadata { .. } => "invalid_metadata",
            Error::InvalidAccount { .. } => "invalid_account",
            Error::InvalidTransaction { .. } => "invalid_transaction",
            Error::Unbalanced { .. } => "unbalanced",
            Error::AssetMismatch { .. } => "asset_mismatch",
            Error::AccountNotFound { .. } => "account_not_found",
            Error::AccountClosed { .. } => "account_closed",
            Error::InsufficientFunds { .. } => "insufficient_funds",
            Error::IdempotencyConflict { .. } => "idempotency_conflict",
            Error::TransactionNotFound { .. } => "transaction_not_found",
            Error::HoldNotFound { .. } => "hold_not_found",
            Error::HoldNotPending { .. } => "hold_not_pending",
            Error::HoldExpired { .. } => "hold_expired",
            Error::ExceedsHold { .. } => "exceeds_hold",
            Error::AlreadyReversed { .. } => "already_reversed",
            Error::NotReversible { .. } => "not_reversible",
            Error::InvalidCursor => "invalid_cursor",
            Error::Contention { .. } => "contention",
            Error::Unavailable { .. } => "unavailable",
            Error::Corrupt { .. } => "corrupt",
            Error::Config { .. } => "config",
            Error::IdempotencyInProgress { .. } => "idempotency_in_progress",
            Error::WebhookSignatureInvalid { .. } => "webhook_signature_invalid",
            Error::PaymentNotFound { .. } => "payment_not_found",
            Error::WeakPassword { .. } => "weak_password",
            Error::InvalidUser { .. } => "invalid_user",
            Error::EmailTaken => "email_taken",
            Error::UserNotFound { .. } => "user_not_found",
            Error::ApiKeyNotFound { .. } => "api_key_not_found",
            Error::TooManyAttempts { .. } => "too_many_attempts",
            Error::Unauthenticated => "unauthenticated",
            Error::Forbidden { .. } => "forbidden",
            Error::DisputeNotFound { .. } => "dispute_not_found",
            Error::InvalidCustomer { .. } => "invalid_customer",
            Error::CustomerNotFound { .. } => "customer_not_found",
            Error::PaymentMethodNotFound { .. } => "payment_method_not_found",
            Error::InvalidTransition { .. } => "invalid_transition",
            Error::ExceedsAuthorized { .. } => "exceeds_authorized",
            Error::ExceedsRefundable { .. } => "exceeds_refundable",
            Error::InvalidCard { .. } => "invalid_card",
            Error::CardDeclined { .. } => "card_declined",
            Error::ProviderUnavailable { .. } => "provider_unavailable",
            Error::ProviderTimeout { .. } => "provider_timeout",
            Error::Unsupported { .. } => "unsupported",
            Error::NoProvider { .. } => "no_provider",
            Error::ProviderNotFound { .. } => "provider_not_found",
            Error::ShutDown => "shut_down",
            Error::InvalidRequest { .. } => "invalid_request",
            Error::InvalidPaymentMethod { .. } => "invalid_payment_method",
            Error::InThePast { .. } => "in_the_past",
            Error::AmountTooLarge { .. } => "amount_too_large",
        }
    }

    /// What kind of failure this is, for edges that have their own classes of failure
    /// (HTTP statuses, gRPC codes, binding exceptions): every edge classifies alike.
    pub fn class(&self) -> ErrorClass {
        match self {
            // A webhook that fails its signature proves nothing about who sent it.
            Error::Unauthenticated | Error::WebhookSignatureInvalid { .. } => {
                ErrorClass::Unauthenticated
            }
            Error::Forbidden { .. } => ErrorClass::Forbidden,
            // A card number that fails its check digit or expired is the card's refusal, as
            // a provider would give it (Stripe answers `incorrect_number` with 402).
            Error::CardDeclined { .. } | Error::InvalidCard { .. } => ErrorClass::Declined,
            Error::TooManyAttempts { .. } => ErrorClass::RateLimited,
            Error::IdempotencyConflict { .. }
            | Error::IdempotencyInProgress { .. }
            | Error::EmailTaken
            | Error::Contention { .. } => ErrorClass::Conflict,
            Error::InsufficientFunds { .. }
            | Error::AccountClosed { .. }
            | Error::HoldNotPending { .. }
            | Error::HoldExpired { .. }
            | Error::ExceedsHold { .. }
            | Error::AlreadyReversed { .. }
            | Error::NotReversible { .. }
            | Error::InvalidTransition { .. }
            | Error::ExceedsAuthorized { .. }
            | Error::ExceedsRefundable { .. }
            | Error::Unsupported { .. }
            | Error::NoProvider { .. }
            // Well formed, but a rule no schema states refuses it: entries that do not
            // balance, sums past i128, an asset no registry knows, a common password, a
            // token that is not the caller's, a time already past.
            | Error::Unbalanced { .. }
            | Error::AssetMismatch { .. }
            | Error::Overflow
            | Error::UnknownAsset { .. }
            | Error::WeakPassword { .. }
            | Error::InvalidPaymentMethod { .. }
            | Error::InvalidCursor
            | Error::InvalidAccount { .. }
            | Error::InThePast { .. }
            | Error::AmountTooLarge { .. } => ErrorClass::Rejected,
            Error::ProviderTimeout { .. } => ErrorClass::Timeout,
            Error::ProviderUnavailable { .. } | Error::Unavailable { .. } | Error::ShutDown => {
                ErrorClass::Unavailable
            }
            Error::Corrupt { .. } => ErrorClass::Internal,
            Error::AccountNotFound { .. }
            | Error::TransactionNotFound { .. }
            | Error::HoldNotFound { .. }
            | Error::PaymentNotFound { .. }
            | Error::UserNotFound { .. }
            | Error::ApiKeyNotFound { .. }
            | Error::DisputeNotFound { .. }
            | Error::CustomerNotFound { .. }
            | Error::PaymentMethodNotFound { .. }
            | Error::ProviderNotFound { .. } => ErrorClass::NotFound,
            _ => ErrorClass::Invalid,
        }
    }

    /// True when the same request may succeed if sent again unchanged.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Contention { .. }
                | Error::Unavailable { .. }
                | Error::ShutDown
                | Error::ProviderUnavailable { .. }
                | Error::ProviderTimeout { .. }
                | Error::IdempotencyInProgress { .. }
        )
    }

    /// Shorthand for a storage failure with a message that carries no secrets.
    pub fn unavailable(reason: impl std::fmt::Display) -> Self {
        Error::Unavailable {
            reason: reason.to_string(),
        }
    }

    /// Shorthand for unreadable stored data.
    pub fn corrupt(reason: impl std::fmt::Display) -> Self {
        Error::Corrupt {
            reason: reason.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_round_trip_through_json_with_their_code() {
        let err = Error::InsufficientFunds {
            account: "acct_x".into(),
        };
        let json = serde_json::to_string(&err).unwrap();
        assert!(json.contains("\"code\":\"insufficient_funds\""));
        let back: Error = serde_json::from_str(&json).unwrap();
        assert_eq!(back, err);
        assert_eq!(back.code(), "insufficient_funds");
    }

    #[test]
    fn contention_is_retryable_and_never_insufficient_funds() {
        let err = Error::Contention {
            reason: "lock".into(),
        };
        assert!(err.is_retryable());
        assert_ne!(err.code(), "insufficient_funds");
    }
}
