//! Outgoing webhooks: Standard Webhooks signatures ([`signature`]), endpoints and deliveries
//! ([`model`]), and the delivery worker with its retry schedule ([`dispatch`]).

pub mod dispatch;
pub mod model;
pub mod signature;
pub mod views;

pub use dispatch::{DispatchReport, RETRY_SCHEDULE, WebhookDispatcher, WebhookTransport};
pub use model::{
    AttemptOutcome, Delivery, DeliveryAttempt, DeliveryState, URL_PATTERN, WebhookEndpoint,
};
pub use signature::{Headers, WebhookSecret, verify};
pub use views::{EndpointView, NewEndpoint};
