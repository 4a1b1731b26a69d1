//! Webhook endpoints as callers see them: the secret shown once, when the endpoint is made.

use crate::mode::Mode;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::model::WebhookEndpoint;
use crate::clock::Timestamp;
use crate::id::EndpointId;

/// A webhook endpoint as listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct EndpointView {
    /// The id.
    pub id: EndpointId,
    /// The receiver's URL.
    pub url: String,
    /// The mode whose events it receives (answers stored before modes existed were test).
    #[serde(default)]
    pub mode: Mode,
    /// Whether it receives events.
    pub enabled: bool,
    /// When added.
    pub created_at: Timestamp,
}

impl From<&WebhookEndpoint> for EndpointView {
    fn from(endpoint: &WebhookEndpoint) -> Self {
        EndpointView {
            id: endpoint.id.clone(),
            url: endpoint.url.clone(),
            mode: endpoint.mode,
            enabled: endpoint.enabled,
            created_at: endpoint.created_at,
        }
    }
}

/// A new webhook endpoint with its signing secret. Debug shows no secret; the secret is wiped
/// on drop.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct NewEndpoint {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: EndpointView,
    /// `whsec_…`: verify deliveries with it. Shown once: absent when an idempotent retry
    /// replays the creation (it is never kept with the replayed answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schemars", schemars(with = "Option<String>"))]
    pub secret: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for NewEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewEndpoint")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_stored_before_modes_existed_still_replay() {
        let stored = r#"{"id":"we_01JD3Q4V5X6Y7Z8A9B0C1D2E3F","url":"https://example.com/h",
            "enabled":true,"created_at":0}"#;
        let view: EndpointView = serde_json::from_str(stored).unwrap();
        assert_eq!(view.mode, Mode::Test);
    }
}
