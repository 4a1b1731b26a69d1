//! The gRPC face of the service traits: each RPC reads its typed fields and the caller from
//! metadata, calls the same trait method a REST handler would, and answers with the value or
//! the engine's error. No rule lives here: the trait implementation authorizes and acts.

use std::sync::Arc;

use obol::auth::Principal;
use obol::payments::{EventQuery, PaymentQuery, PaymentStatus};
use obol::{
    AccountId, ApiKeyId, AssetCode, CustomerId, Error, EventId, PaymentId, PaymentMethodId, Result,
    Timestamp, TransactionId, UserId,
};
use tonic::{Request, Response, Status};

use super::codec::{
    IDEMPOTENCY_KEY, decode_request, decode_request_value, principal, text, to_status, value,
    values,
};
use super::proto::{
    self, AccountReply, AddEndpointRequest, AuthenticateRequest, BalanceAtRequest, BalancesRequest,
    ById, ConfirmPaymentRequest, CreateCustomerRequest, CreatePaymentRequest, Empty, EventsReply,
    EventsRequest, ExecuteRequest, HistoryRequest, ListPaymentsRequest, LoginRequest,
    ProviderWebhookRequest, RefreshTokenRequest, SaveMethodRequest, UpdateProfileRequest, Value,
    Values,
};
use super::trust::Trust;
use crate::services::{AuthService, LedgerService, PaymentsService};

/// An RPC's answer from the engine's result.
fn answer<T>(result: Result<T>) -> std::result::Result<Response<T>, Status> {
    result.map(Response::new).map_err(|e| to_status(&e))
}

/// Who is calling and under which idempotency key.
struct Call {
    who: Result<Principal>,
    key: Option<String>,
}

impl Call {
    fn of<T>(request: &Request<T>, trust: &Trust) -> Self {
        // Inside the call's span, which carries the request id.
        tracing::debug!("call");
        Call {
            who: trust
                .check(request)
                .and_then(|()| principal(request.metadata())),
            key: text(request.metadata(), IDEMPOTENCY_KEY),
        }
    }

    fn who(&self) -> Result<&Principal> {
        self.who.as_ref().map_err(Clone::clone)
    }

    fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }
}

fn optional<T>(text: Option<String>, parse: impl Fn(&str) -> Result<T>) -> Result<Option<T>> {
    text.as_deref().map(parse).transpose()
}

/// The payments service over a [`PaymentsService`].
pub struct PaymentsRpc(pub Arc<dyn PaymentsService>, pub Trust);

#[tonic::async_trait]
impl proto::payments_server::Payments for PaymentsRpc {
    async fn create_payment(
        &self,
        request: Request<CreatePaymentRequest>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let create = decode_request_value(request.into_inner().payment, "payment")?;
                let payment = self.0.create_payment(call.who()?, call.key(), create);
                value(&payment.await?)
            }
            .await,
        )
    }

    async fn confirm_payment(
        &self,
        request: Request<ConfirmPaymentRequest>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let message = request.into_inner();
                let id = PaymentId::parse(&message.id)?;
                let method = match message.method {
                    Some(method) => Some(decode_request(&method.json, "method")?),
                    None => None,
                };
                let payment = self.0.confirm_payment(call.who()?, call.key(), &id, method);
                value(&payment.await?)
            }
            .await,
        )
    }

    async fn execute(
        &self,
        request: Request<ExecuteRequest>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let payment_request =
                    decode_request_value(request.into_inner().request, "request")?;
                let payment = self.0.execute(call.who()?, call.key(), payment_request);
                value(&payment.await?)
            }
            .await,
        )
    }

    async fn get_payment(
        &self,
        request: Request<ById>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let id = PaymentId::parse(&request.into_inner().id)?;
                value(&self.0.payment(call.who()?, &id).await?)
            }
            .await,
        )
    }

    async fn list_payments(
        &self,
        request: Request<ListPaymentsRequest>,
    ) -> std::result::Result<Response<Values>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let who = call.who()?;
                let message = request.into_inner();
                let status = optional(message.status, |s| {
                    PaymentStatus::parse(s).map_err(|_| Error::InvalidRequest {
                        reason: format!("{s:?} is not a payment status"),
                    })
                })?;
                let query = PaymentQuery {
                    merchant: who.merchant().clone(),
                    mode: Some(who.mode()),
                    status,
                    customer: optional(message.customer, CustomerId::parse)?,
                    created_from: message.created_from.map(Timestamp::from_micros),
                    created_before: message.created_before.map(Timestamp::from_micros),
                    starting_after: optional(message.starting_after, PaymentId::parse)?,
                    limit: message.limit,
                };
                values(&self.0.list(who, query).await?)
            }
            .await,
        )
    }

    async fn children(
        &self,
        request: Request<ById>,
    ) -> std::result::Result<Response<Values>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let id = PaymentId::parse(&request.into_inner().id)?;
                values(&self.0.children(call.who()?, &id).await?)
            }
            .await,
        )
    }

    async fn events(
        &self,
        request: Request<EventsRequest>,
    ) -> std::result::Result<Response<EventsReply>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let who = call.who()?;
                let message = request.into_inner();
                let query = EventQuery {
                    merchant: who.merchant().clone(),
                    mode: Some(who.mode()),
                    payment: optional(message.payment, PaymentId::parse)?,
                    after: message.after,
                    limit: message.limit,
                };
                let events = self
                    .0
                    .events(who, query)
                    .await?
                    .into_iter()
                    .map(|stored| {
                        Ok(proto::StoredEvent {
                            sequence: stored.sequence,
                            event: Some(value(&stored.event)?),
                        })
                    })
                    .collect::<Result<_>>()?;
                Ok(EventsReply { events })
            }
            .await,
        )
    }

    async fn create_customer(
        &self,
        request: Request<CreateCustomerRequest>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let new = decode_request_value(request.into_inner().customer, "customer")?;
                value(&self.0.create_customer(call.who()?, call.key(), new).await?)
            }
            .await,
        )
    }

    async fn get_customer(
        &self,
        request: Request<ById>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let id = CustomerId::parse(&request.into_inner().id)?;
                value(&self.0.customer(call.who()?, &id).await?)
            }
            .await,
        )
    }

    async fn save_method(
        &self,
        request: Request<SaveMethodRequest>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let message = request.into_inner();
                let customer = CustomerId::parse(&message.customer)?;
                let method = decode_request_value(message.method, "method")?;
                let saved = self
                    .0
                    .save_method(call.who()?, call.key(), &customer, method);
                value(&saved.await?)
            }
            .await,
        )
    }

    async fn saved_methods(
        &self,
        request: Request<ById>,
    ) -> std::result::Result<Response<Values>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let customer = CustomerId::parse(&request.into_inner().id)?;
                values(&self.0.saved_methods(call.who()?, &customer).await?)
            }
            .await,
        )
    }

    async fn detach_method(
        &self,
        request: Request<ById>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let id = PaymentMethodId::parse(&request.into_inner().id)?;
                value(&self.0.detach_method(call.who()?, &id).await?)
            }
            .await,
        )
    }

    async fn balances(
        &self,
        request: Request<BalancesRequest>,
    ) -> std::result::Result<Response<Values>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let assets = request
                    .into_inner()
                    .assets
                    .iter()
                    .map(AssetCode::new)
                    .collect::<Result<Vec<_>>>()?;
                values(&self.0.balances(call.who()?, &assets).await?)
            }
            .await,
        )
    }

    async fn add_endpoint(
        &self,
        request: Request<AddEndpointRequest>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let url = request.into_inner().url;
                value(&self.0.add_endpoint(call.who()?, call.key(), &url).await?)
            }
            .await,
        )
    }

    async fn endpoints(
        &self,
        request: Request<Empty>,
    ) -> std::result::Result<Response<Values>, Status> {
        let call = Call::of(&request, &self.1);
        answer(async { values(&self.0.endpoints(call.who()?).await?) }.await)
    }

    async fn delivery_attempts(
        &self,
        request: Request<ById>,
    ) -> std::result::Result<Response<Values>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let id = EventId::parse(&request.into_inner().id)?;
                values(&self.0.delivery_attempts(call.who()?, &id).await?)
            }
            .await,
        )
    }

    async fn provider_webhook(
        &self,
        request: Request<ProviderWebhookRequest>,
    ) -> std::result::Result<Response<Value>, Status> {
        let message = request.into_inner();
        let headers: Vec<(String, String)> = message
            .headers
            .into_iter()
            .map(|h| (h.name, h.value))
            .collect();
        answer(
            async {
                let payment = self
                    .0
                    .provider_webhook(&message.provider, &headers, &message.body);
                value(&payment.await?)
            }
            .await,
        )
    }

    async fn ready(&self, _: Request<Empty>) -> std::result::Result<Response<Empty>, Status> {
        answer(self.0.ready().await.map(|()| Empty {}))
    }
}

/// The ledger service over a [`LedgerService`].
pub struct LedgerRpc(pub Arc<dyn LedgerService>, pub Trust);

#[tonic::async_trait]
impl proto::ledger_server::Ledger for LedgerRpc {
    async fn create_account(
        &self,
        request: Request<Value>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let new = decode_request(&request.into_inner().json, "account")?;
                value(&self.0.create_account(call.who()?, call.key(), new).await?)
            }
            .await,
        )
    }

    async fn get_account(
        &self,
        request: Request<ById>,
    ) -> std::result::Result<Response<AccountReply>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let id = AccountId::parse(&request.into_inner().id)?;
                let (account, balance) = self.0.account(call.who()?, &id).await?;
                Ok(AccountReply {
                    account: Some(value(&account)?),
                    balance: Some(value(&balance)?),
                })
            }
            .await,
        )
    }

    async fn close_account(
        &self,
        request: Request<ById>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let id = AccountId::parse(&request.into_inner().id)?;
                value(&self.0.close_account(call.who()?, &id).await?)
            }
            .await,
        )
    }

    async fn balance_at(
        &self,
        request: Request<BalanceAtRequest>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let message = request.into_inner();
                let id = AccountId::parse(&message.account)?;
                let at = Timestamp::from_micros(message.at);
                value(&self.0.balance_at(call.who()?, &id, at).await?)
            }
            .await,
        )
    }

    async fn submit(
        &self,
        request: Request<Value>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let command = decode_request(&request.into_inner().json, "command")?;
                value(&self.0.submit(call.who()?, command).await?)
            }
            .await,
        )
    }

    async fn get_transaction(
        &self,
        request: Request<ById>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let id = TransactionId::parse(&request.into_inner().id)?;
                value(&self.0.transaction(call.who()?, &id).await?)
            }
            .await,
        )
    }

    async fn get_hold(
        &self,
        request: Request<ById>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let id = TransactionId::parse(&request.into_inner().id)?;
                value(&self.0.hold(call.who()?, &id).await?)
            }
            .await,
        )
    }

    async fn history(
        &self,
        request: Request<HistoryRequest>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let message = request.into_inner();
                let id = AccountId::parse(&message.account)?;
                let page =
                    self.0
                        .history(call.who()?, &id, message.cursor.as_deref(), message.limit);
                value(&page.await?)
            }
            .await,
        )
    }

    async fn ready(&self, _: Request<Empty>) -> std::result::Result<Response<Empty>, Status> {
        answer(self.0.ready().await.map(|()| Empty {}))
    }
}

/// The auth service over an [`AuthService`].
pub struct AuthRpc(pub Arc<dyn AuthService>, pub Trust);

#[tonic::async_trait]
impl proto::auth_server::Auth for AuthRpc {
    async fn authenticate(
        &self,
        request: Request<AuthenticateRequest>,
    ) -> std::result::Result<Response<Value>, Status> {
        let credential = zeroize::Zeroizing::new(request.into_inner().credential);
        answer(async { value(&self.0.authenticate(&credential).await?) }.await)
    }

    async fn login(
        &self,
        request: Request<LoginRequest>,
    ) -> std::result::Result<Response<Value>, Status> {
        // Only a trusted peer (the gateway) may say where a sign-in comes from; any other
        // peer is its own source, so it cannot spread its guesses over made-up addresses.
        let peer = request.remote_addr().map(|addr| addr.ip().to_string());
        let trusted = self.1.trusts(&request);
        answer(
            async {
                let message = request.into_inner();
                let source = match trusted {
                    true => message.source.or(peer),
                    false => peer,
                };
                let login = decode_request_value(message.request, "request")?;
                value(&self.0.login(login, source.as_deref()).await?)
            }
            .await,
        )
    }

    async fn refresh(
        &self,
        request: Request<RefreshTokenRequest>,
    ) -> std::result::Result<Response<Value>, Status> {
        let token = zeroize::Zeroizing::new(request.into_inner().refresh_token);
        answer(async { value(&self.0.refresh(&token).await?) }.await)
    }

    async fn logout(
        &self,
        request: Request<RefreshTokenRequest>,
    ) -> std::result::Result<Response<Empty>, Status> {
        let token = zeroize::Zeroizing::new(request.into_inner().refresh_token);
        answer(self.0.logout(&token).await.map(|()| Empty {}))
    }

    async fn jwks(&self, _: Request<Empty>) -> std::result::Result<Response<Value>, Status> {
        answer(async { value(&self.0.jwks().await?) }.await)
    }

    async fn create_user(
        &self,
        request: Request<Value>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let create = decode_request(&request.into_inner().json, "user")?;
                value(&self.0.create_user(call.who()?, call.key(), create).await?)
            }
            .await,
        )
    }

    async fn get_user(
        &self,
        request: Request<ById>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let id = UserId::parse(&request.into_inner().id)?;
                value(&self.0.user(call.who()?, &id).await?)
            }
            .await,
        )
    }

    async fn update_profile(
        &self,
        request: Request<UpdateProfileRequest>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let message = request.into_inner();
                let id = UserId::parse(&message.id)?;
                let profile = decode_request_value(message.profile, "profile")?;
                value(&self.0.update_profile(call.who()?, &id, profile).await?)
            }
            .await,
        )
    }

    async fn issue_api_key(
        &self,
        request: Request<Value>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let create = decode_request(&request.into_inner().json, "api_key")?;
                value(
                    &self
                        .0
                        .issue_api_key(call.who()?, call.key(), create)
                        .await?,
                )
            }
            .await,
        )
    }

    async fn api_keys(
        &self,
        request: Request<Empty>,
    ) -> std::result::Result<Response<Values>, Status> {
        let call = Call::of(&request, &self.1);
        answer(async { values(&self.0.api_keys(call.who()?).await?) }.await)
    }

    async fn revoke_api_key(
        &self,
        request: Request<ById>,
    ) -> std::result::Result<Response<Value>, Status> {
        let call = Call::of(&request, &self.1);
        answer(
            async {
                let id = ApiKeyId::parse(&request.into_inner().id)?;
                value(&self.0.revoke_api_key(call.who()?, &id).await?)
            }
            .await,
        )
    }

    async fn ready(&self, _: Request<Empty>) -> std::result::Result<Response<Empty>, Status> {
        answer(self.0.ready().await.map(|()| Empty {}))
    }
}
