//! Auth (ARCHITECTURE §5): passwords, API keys, scopes and the one authorization check,
//! users with sign-in limits (counted by [`source`]), sessions, and signing keys.

pub mod api_key;
pub mod engine;
pub mod jwt;
pub mod keyring;
pub mod password;
pub mod scope;
pub mod sealer;
pub mod session;
pub mod source;
pub mod user;
pub mod views;

pub use crate::mode::Mode;
pub use api_key::{ApiKey, ApiKeySecret, IssuedApiKey, key_prefix};
pub use engine::{Auth, AuthConfig, LoginLimits, NewUser, TokenConfig, Tokens};
pub use jwt::{AccessClaims, AccessTokenVerifier, Algorithm, Expectations, Jwks, verify_offline};
pub use keyring::{KeyEncryptionKey, RotationPolicy};
pub use password::{Password, PasswordHasher};
pub use scope::{Actor, Principal, Scope, authorize};
pub use sealer::{KeySealer, LocalSealer, MigratingSealer, Rewrapped};
pub use session::{RefreshToken, Session};
pub use user::{Profile, User, normalise_email};
pub use views::{ApiKeyView, CreateApiKey, CreateUser, NewApiKey, UserView};
