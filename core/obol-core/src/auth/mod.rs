//! Auth (ARCHITECTURE §5): passwords, API keys, scopes and the one authorization check.
//! Users, sessions and signing keys follow.

pub mod api_key;
pub mod password;
pub mod scope;

pub use api_key::{ApiKeyMode, ApiKeySecret, IssuedApiKey};
pub use password::{Password, PasswordHasher};
pub use scope::{Principal, Scope, authorize};
