//! What crosses the service seam besides the engine's own types: sign-in requests and the
//! tokens handed back. Everything a tenant asks for and sees (payments, customers, users, API
//! keys, webhook endpoints) is the engine's own type, re-exported here.

pub use obol::auth::{ApiKeyView, CreateApiKey, CreateUser, NewApiKey, UserView};
pub use obol::payments::{CardInput, CreatePayment, MethodInput};
pub use obol::tenant::MerchantBalance;
pub use obol::webhooks::{EndpointView, NewEndpoint};

use obol::{MerchantId, Mode, UserId};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// A sign-in request. Debug shows no password; it is wiped on drop.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The tenant; the default merchant when absent.
    #[serde(default)]
    pub merchant: Option<MerchantId>,
    /// Email.
    #[schemars(length(min = 1, max = 254))]
    pub email: String,
    /// Password.
    #[schemars(with = "String", length(min = 1, max = 128))]
    pub password: obol::auth::Password,
    /// The mode to act in (test by default; live only for users allowed it).
    #[serde(default)]
    pub mode: Mode,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("merchant", &self.merchant)
            .field("email", &self.email)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// Tokens handed to a client after a login or refresh (wiped when dropped).
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
pub struct IssuedTokens {
    /// The JWT to send as `Authorization: Bearer …`.
    #[schemars(with = "String")]
    pub access_token: Zeroizing<String>,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// The refresh token (rotated by every refresh).
    #[schemars(with = "String")]
    pub refresh_token: Zeroizing<String>,
    /// The signed-in user.
    pub user: UserId,
    /// The user's tenant.
    pub merchant: MerchantId,
    /// The mode the session acts in.
    pub mode: Mode,
}

impl std::fmt::Debug for IssuedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedTokens")
            .field("user", &self.user)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}
