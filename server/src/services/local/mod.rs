//! The services in process: each call is the engine's tenant API for the caller
//! ([`obol::Engine::tenant`]), which checks scopes, keeps the caller inside its merchant and
//! mode, and names keyed requests. Nothing here decides who may do what.

mod auth;
mod ledger;
mod payments;

use std::sync::Arc;

use obol::Tenant;
use obol::auth::Principal;

use super::Services;
use crate::engine::Engine;

/// All three services over one engine in this process.
#[derive(Clone)]
pub struct Local {
    engine: Arc<Engine>,
}

impl Local {
    /// The services of `engine`.
    pub fn services(engine: Arc<Engine>) -> Services {
        let local = Arc::new(Local { engine });
        Services {
            payments: local.clone(),
            ledger: local.clone(),
            auth: local,
        }
    }

    /// The engine as `who` may use it.
    fn tenant(&self, who: &Principal) -> Tenant {
        self.engine.tenant(who.clone())
    }
}
