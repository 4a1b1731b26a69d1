//! Auth (ARCHITECTURE §5): passwords, API keys, scopes and the one authorization check.
//! Users, sessions and signing keys follow.

pub mod api_key;
pub mod engine;
pub mod password;
pub mod scope;

pub use api_key::{ApiKey, ApiKeyMode, ApiKeySecret, IssuedApiKey};
pub use engine::Auth;
pub use password::{Password, PasswordHasher};
pub use scope::{Principal, Scope, authorize};
