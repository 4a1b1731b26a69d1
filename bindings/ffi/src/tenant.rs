//! The engine as one principal may use it: a [`Tenant`] object whose every call the engine
//! checks against the principal's scopes, merchant and mode (another merchant's payment is
//! as good as unknown). The app gets one by acting as a merchant itself ([`Obol::act_as`])
//! or for a caller that presents a credential ([`Obol::authenticate`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use obol::auth::{Actor, Principal, Scope};
use obol::{EngineHandle, Error, Result};

use crate::error::{AuthError, ObolError};
use crate::object::Obol;
use crate::runtime::run;

/// Who a tenant acts as: the actor, its merchant, scopes and mode.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PrincipalRecord {
    /// `user`, `api_key` or `host` (the app itself).
    pub kind: String,
    /// The user (`usr_…`) or key (`key_…`); empty for the host.
    pub id: String,
    /// The tenant (`mer_…`).
    pub merchant: String,
    /// What it may do (`payments:read`, `ledger:write`, …).
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

/// Scope names as the foreign side sees them.
pub(crate) fn scope_names(scopes: &BTreeSet<Scope>) -> Vec<String> {
    scopes
        .iter()
        .map(|scope| scope.as_str().to_owned())
        .collect()
}

/// The engine as one principal may use it. Safe to call from many threads at once; calls
/// after [`Obol::shutdown`] fail with `shut_down`.
#[derive(Debug, uniffi::Object)]
pub struct Tenant {
    handle: Arc<EngineHandle>,
    principal: Principal,
}

impl Tenant {
    /// Runs `work` on the engine's view for this principal, on the library's runtime, its
    /// error in the caller's area. The call holds the engine until it ends (a shutdown waits
    /// for it).
    pub(crate) async fn call<T, E, F, Fut>(&self, work: F) -> std::result::Result<T, E>
    where
        T: Send + 'static,
        E: From<Error>,
        F: FnOnce(obol::Tenant) -> Fut,
        Fut: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        let engine = self.handle.engine()?;
        let work = work(engine.tenant(self.principal.clone()));
        run(async move {
            let answer = work.await;
            drop(engine);
            answer
        })
        .await
        .map_err(E::from)
    }
}

#[uniffi::export]
impl Tenant {
    /// Who this tenant acts as.
    pub fn principal(&self) -> PrincipalRecord {
        self.principal.clone().into()
    }
}

#[uniffi::export]
impl Obol {
    /// The app acting as a merchant itself (the default merchant when `merchant` is absent),
    /// with `scopes` (every scope when absent; an empty list grants none), in `mode` (`test` or `live`). Nothing checks a
    /// credential: the app holds the engine, so it is trusted to speak for its merchants.
    pub fn act_as(
        &self,
        merchant: Option<String>,
        scopes: Option<Vec<String>>,
        mode: String,
    ) -> std::result::Result<Arc<Tenant>, ObolError> {
        let principal = Principal::host_named(merchant.as_deref(), scopes.as_deref(), &mode)?;
        Ok(Arc::new(Tenant {
            handle: self.handle.clone(),
            principal,
        }))
    }

    /// The tenant a caller's credential stands for (an API key `obol_sk_…` or an access
    /// token): `unauthenticated` when it proves nothing.
    pub async fn authenticate(
        &self,
        credential: String,
    ) -> std::result::Result<Arc<Tenant>, AuthError> {
        let handle = self.handle.clone();
        let principal: Principal = self
            .call::<_, AuthError, _, _>(|engine| async move {
                engine.auth().authenticate(&credential).await
            })
            .await?;
        Ok(Arc::new(Tenant { handle, principal }))
    }
}
