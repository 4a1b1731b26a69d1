//! The `Tenant` class: the engine as one principal may use it. Every call is checked by the
//! engine against the principal's scopes, merchant and mode (another merchant's payment is as
//! good as unknown). The app gets one by acting as a merchant itself (`obol.actAs`) or for a
//! caller that presents a credential (`obol.authenticate`).

use std::collections::BTreeSet;
use std::ops::Deref;
use std::sync::Arc;

use napi::Env;
use napi::bindgen_prelude::{PromiseRaw, Result};
use napi_derive::napi;
use obol::auth::{Actor, Principal, Scope};
use obol::{Engine, EngineHandle};

use crate::convert::{promise, sync_error};
use crate::object::Obol;

/// Who a tenant acts as.
#[napi(object)]
pub struct PrincipalRecord {
    /// `user`, `api_key` or `host` (the app itself).
    pub kind: String,
    /// The user (`usr_…`) or key (`key_…`); empty for the host.
    pub id: String,
    /// The tenant (`mer_…`).
    pub merchant: String,
    /// What it may do.
    pub scopes: Vec<String>,
    /// `test` or `live`.
    pub mode: String,
}

impl From<Principal> for PrincipalRecord {
    fn from(principal: Principal) -> Self {
        let (kind, id) = match principal.actor {
            Actor::User { user } => ("user", user.to_string()),
            Actor::ApiKey { key } => ("api_key", key.to_string()),
            Actor::Host => ("host", String::new()),
        };
        PrincipalRecord {
            kind: kind.into(),
            id,
            merchant: principal.merchant.to_string(),
            scopes: scope_names(&principal.scopes),
            mode: principal.mode.as_str().into(),
        }
    }
}

/// Scope names as JavaScript sees them.
pub(crate) fn scope_names(scopes: &BTreeSet<Scope>) -> Vec<String> {
    scopes
        .iter()
        .map(|scope| scope.as_str().to_owned())
        .collect()
}

/// The engine as one principal may use it. Calls after `obol.shutdown()` reject with
/// `shut_down`.
#[napi]
pub struct Tenant {
    handle: Arc<EngineHandle>,
    principal: Principal,
}

/// The engine's view for one call: it holds the engine until the call ends, so a shutdown
/// waits for it.
pub(crate) struct Scoped {
    _engine: Arc<Engine>,
    tenant: obol::Tenant,
}

impl Deref for Scoped {
    type Target = obol::Tenant;

    fn deref(&self) -> &obol::Tenant {
        &self.tenant
    }
}

impl Tenant {
    /// The engine's view for this principal, unless the engine is shut down.
    pub(crate) fn scoped(&self) -> obol::Result<Scoped> {
        let engine = self.handle.engine()?;
        let tenant = engine.tenant(self.principal.clone());
        Ok(Scoped {
            _engine: engine,
            tenant,
        })
    }
}

#[napi]
impl Tenant {
    /// Who this tenant acts as.
    #[napi]
    pub fn principal(&self) -> PrincipalRecord {
        self.principal.clone().into()
    }
}

#[napi]
impl Obol {
    /// The app acting as a merchant itself (the default merchant when `merchant` is absent),
    /// with `scopes` (every scope when absent; an empty list grants none), in `mode` (`test` or `live`). Nothing checks a
    /// credential: the app holds the engine, so it is trusted to speak for its merchants.
    #[napi]
    pub fn act_as(
        &self,
        merchant: Option<String>,
        scopes: Option<Vec<String>>,
        mode: String,
    ) -> napi::Result<Tenant, String> {
        let principal = Principal::host_named(merchant.as_deref(), scopes.as_deref(), &mode)
            .map_err(sync_error)?;
        Ok(Tenant {
            handle: self.handle.clone(),
            principal,
        })
    }

    /// The tenant a caller's credential stands for (an API key `obol_sk_…` or an access
    /// token); rejects with `unauthenticated` when it proves nothing.
    #[napi(ts_return_type = "Promise<Tenant>")]
    pub fn authenticate<'env>(
        &self,
        env: &'env Env,
        credential: String,
    ) -> Result<PromiseRaw<'env, Tenant>> {
        let handle = self.handle.clone();
        promise(env, async move {
            let engine = handle.engine()?;
            let auth = engine.auth();
            let principal = auth.authenticate(&credential).await?;
            drop(engine);
            Ok(Tenant { handle, principal })
        })
    }
}
