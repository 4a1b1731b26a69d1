//! Outgoing webhooks: Standard Webhooks signatures ([`signature`]), endpoints and deliveries
//! ([`model`]), the delivery worker with its retry schedule ([`dispatch`]), and where
//! deliveries may go ([`targets`]).

pub mod dispatch;
pub mod model;
pub mod signature;
pub mod stored_secret;
pub mod targets;
pub mod views;

pub use dispatch::{
    AddedEndpoint, DeliveryTotals, DispatchReport, RETRY_SCHEDULE, WebhookDispatcher,
    WebhookTransport,
};
pub use model::{
    AttemptOutcome, Delivery, DeliveryAttempt, DeliveryBacklog, DeliveryState, URL_PATTERN,
    WebhookEndpoint,
};
pub use signature::{Headers, WebhookSecret, verify};
pub use stored_secret::StoredSecret;
pub use targets::TargetPolicy;
pub use views::{EndpointView, NewEndpoint};
