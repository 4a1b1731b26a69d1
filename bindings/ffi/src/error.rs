//! One error enum per area. Each variant is a class of failure (the engine's
//! [`obol::ErrorClass`]) and carries the engine's stable `code` (`insufficient_funds`,
//! `idempotency_conflict`, …) and a `reason` without secrets (not `message`, which would
//! clash with the exception's own in Kotlin), so apps branch on the class in their language
//! and on the code where they need the detail.

use obol::{Error, ErrorClass};

/// Declares an area's error enum and its conversion from the engine's error.
macro_rules! area_error {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
        #[non_exhaustive]
        pub enum $name {
            /// The request is malformed or breaks a rule of its own.
            #[error("{code}: {reason}")]
            Invalid {
                /// The engine's stable code.
                code: String,
                /// What went wrong, without secrets.
                reason: String,
            },
            /// What the request names does not exist.
            #[error("{code}: {reason}")]
            NotFound {
                /// The engine's stable code.
                code: String,
                /// What went wrong, without secrets.
                reason: String,
            },
            /// The caller did not prove who it is, or may not do this.
            #[error("{code}: {reason}")]
            Unauthorized {
                /// The engine's stable code.
                code: String,
                /// What went wrong, without secrets.
                reason: String,
            },
            /// The provider declined.
            #[error("{code}: {reason}")]
            Declined {
                /// The engine's stable code.
                code: String,
                /// What went wrong, without secrets.
                reason: String,
            },
            /// Clashes with another request (idempotency key, unique email, concurrent write).
            #[error("{code}: {reason}")]
            Conflict {
                /// The engine's stable code.
                code: String,
                /// What went wrong, without secrets.
                reason: String,
            },
            /// Well formed, but the current state forbids it (insufficient funds, …).
            #[error("{code}: {reason}")]
            Rejected {
                /// The engine's stable code.
                code: String,
                /// What went wrong, without secrets.
                reason: String,
            },
            /// Retry later: the store or provider is unreachable, slow or rate-limiting, or
            /// the engine is closed.
            #[error("{code}: {reason}")]
            Unavailable {
                /// The engine's stable code.
                code: String,
                /// What went wrong, without secrets.
                reason: String,
            },
            /// Stored data is unreadable: a fault to investigate.
            #[error("{code}: {reason}")]
            Internal {
                /// The engine's stable code.
                code: String,
                /// What went wrong, without secrets.
                reason: String,
            },
        }

        impl From<Error> for $name {
            fn from(error: Error) -> Self {
                let code = error.code().to_owned();
                let reason = error.to_string();
                match error.class() {
                    ErrorClass::Invalid => $name::Invalid { code, reason },
                    ErrorClass::NotFound => $name::NotFound { code, reason },
                    ErrorClass::Unauthenticated | ErrorClass::Forbidden => {
                        $name::Unauthorized { code, reason }
                    }
                    ErrorClass::Declined => $name::Declined { code, reason },
                    ErrorClass::Conflict => $name::Conflict { code, reason },
                    ErrorClass::Rejected => $name::Rejected { code, reason },
                    ErrorClass::RateLimited | ErrorClass::Timeout | ErrorClass::Unavailable => {
                        $name::Unavailable { code, reason }
                    }
                    ErrorClass::Internal => $name::Internal { code, reason },
                }
            }
        }

        impl $name {
            /// The engine's stable code.
            pub fn code(&self) -> &str {
                match self {
                    $name::Invalid { code, .. }
                    | $name::NotFound { code, .. }
                    | $name::Unauthorized { code, .. }
                    | $name::Declined { code, .. }
                    | $name::Conflict { code, .. }
                    | $name::Rejected { code, .. }
                    | $name::Unavailable { code, .. }
                    | $name::Internal { code, .. } => code,
                }
            }
        }
    };
}

area_error!(
    /// Opening and closing an engine.
    ObolError
);
area_error!(
    /// Ledger accounts, transactions, holds, balances and history.
    LedgerError
);
area_error!(
    /// Payments, cards, captures and refunds.
    PaymentError
);
area_error!(
    /// Users, sessions, tokens and API keys.
    AuthError
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_the_engine_code_and_class() {
        let error = LedgerError::from(Error::InsufficientFunds {
            account: "acct_x".into(),
        });
        assert_eq!(error.code(), "insufficient_funds");
        assert!(matches!(error, LedgerError::Rejected { .. }));
        let error = LedgerError::from(Error::IdempotencyConflict { id: "txn_x".into() });
        assert!(
            matches!(error, LedgerError::Conflict { ref code, .. } if code == "idempotency_conflict")
        );
        let error = ObolError::from(Error::unavailable("down"));
        assert!(matches!(error, ObolError::Unavailable { .. }));
    }
}
