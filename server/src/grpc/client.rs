//! The service traits implemented by calling the split deployment's services over gRPC: what
//! the gateway runs its (unchanged) REST handlers on. Each call carries the caller, the
//! idempotency key and the request id in metadata; a refusal comes back as the engine's own
//! error.

use std::sync::Arc;

use async_trait::async_trait;
use obol::auth::{Jwks, Principal, Profile};
use obol::payments::{
    Child, Customer, EventQuery, NewCustomer, Payment, PaymentQuery, PaymentRequest, SavedMethod,
    StoredEvent,
};
use obol::webhooks::DeliveryAttempt;
use obol::{
    Account, AccountId, ApiKeyId, AssetCode, Balance, CustomerId, EventId, HistoryEntry, Hold,
    LedgerCommand, NewAccount, Page, PaymentId, PaymentMethodId, Result, Timestamp, Transaction,
    TransactionId, UserId,
};
use serde::de::DeserializeOwned;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use super::codec::{
    IDEMPOTENCY_KEY, REQUEST_ID, decode, decode_all, decode_json, from_status, put_principal,
    put_text, value,
};
use super::proto::auth_client::AuthClient;
use super::proto::ledger_client::LedgerClient;
use super::proto::payments_client::PaymentsClient;
use super::proto::{
    AddEndpointRequest, AuthenticateRequest, BalanceAtRequest, BalancesRequest, ById,
    ConfirmPaymentRequest, CreateCustomerRequest, CreatePaymentRequest, Empty, EventsRequest,
    ExecuteRequest, Header, HistoryRequest, ListPaymentsRequest, LoginRequest,
    ProviderWebhookRequest, RefreshTokenRequest, SaveMethodRequest, UpdateProfileRequest, Value,
    Values,
};
use crate::services::{
    ApiKeyView, AuthService, CreateApiKey, CreatePayment, CreateUser, EndpointView, IssuedTokens,
    LedgerService, MerchantBalance, MethodInput, NewApiKey, NewEndpoint, PaymentsService, Services,
    UserView,
};

/// The three services of a split deployment, reached over their channels.
pub fn services(payments: Channel, ledger: Channel, auth: Channel) -> Services {
    Services {
        payments: Arc::new(RemotePayments(PaymentsClient::new(payments))),
        ledger: Arc::new(RemoteLedger(LedgerClient::new(ledger))),
        auth: Arc::new(RemoteAuth(AuthClient::new(auth))),
    }
}

/// A request with the call's context in its metadata.
fn outgoing<T>(message: T, who: Option<&Principal>, key: Option<&str>) -> Result<Request<T>> {
    let mut request = Request::new(message);
    if let Some(who) = who {
        put_principal(request.metadata_mut(), who)?;
    }
    if let Some(key) = key {
        put_text(request.metadata_mut(), IDEMPOTENCY_KEY, key)?;
    }
    if let Some(id) = crate::rest::middleware::current_request_id() {
        put_text(request.metadata_mut(), REQUEST_ID, &id)?;
    }
    Ok(request)
}

/// The message of an answer, or the engine error it carries.
fn reply<T>(answer: std::result::Result<Response<T>, Status>) -> Result<T> {
    answer
        .map(Response::into_inner)
        .map_err(|s| from_status(&s))
}

fn one<T: DeserializeOwned>(
    answer: std::result::Result<Response<Value>, Status>,
    what: &str,
) -> Result<T> {
    decode_json(&reply(answer)?.json, what)
}

fn many<T: DeserializeOwned>(
    answer: std::result::Result<Response<Values>, Status>,
    what: &str,
) -> Result<Vec<T>> {
    decode_all(reply(answer)?, what)
}

fn by_id(id: &impl std::fmt::Display) -> ById {
    ById { id: id.to_string() }
}

/// [`PaymentsService`] over gRPC.
struct RemotePayments(PaymentsClient<Channel>);

#[async_trait]
impl PaymentsService for RemotePayments {
    async fn create_payment(
        &self,
        who: &Principal,
        key: Option<&str>,
        request: CreatePayment,
    ) -> Result<Payment> {
        let message = CreatePaymentRequest {
            payment: Some(value(&request)?),
        };
        let call = outgoing(message, Some(who), key)?;
        one(self.0.clone().create_payment(call).await, "payment")
    }

    async fn confirm_payment(
        &self,
        who: &Principal,
        key: Option<&str>,
        id: &PaymentId,
        method: Option<MethodInput>,
    ) -> Result<Payment> {
        let message = ConfirmPaymentRequest {
            id: id.to_string(),
            method: method.as_ref().map(value).transpose()?,
        };
        let call = outgoing(message, Some(who), key)?;
        one(self.0.clone().confirm_payment(call).await, "payment")
    }

    async fn execute(
        &self,
        who: &Principal,
        key: Option<&str>,
        request: PaymentRequest,
    ) -> Result<Payment> {
        let message = ExecuteRequest {
            request: Some(value(&request)?),
        };
        let call = outgoing(message, Some(who), key)?;
        one(self.0.clone().execute(call).await, "payment")
    }

    async fn payment(&self, who: &Principal, id: &PaymentId) -> Result<Payment> {
        let call = outgoing(by_id(id), Some(who), None)?;
        one(self.0.clone().get_payment(call).await, "payment")
    }

    async fn list(&self, who: &Principal, query: PaymentQuery) -> Result<Vec<Payment>> {
        let message = ListPaymentsRequest {
            status: query.status.map(|s| s.as_str().to_owned()),
            customer: query.customer.map(|c| c.to_string()),
            created_from: query.created_from.map(Timestamp::as_micros),
            created_before: query.created_before.map(Timestamp::as_micros),
            starting_after: query.starting_after.map(|p| p.to_string()),
            limit: query.limit,
        };
        let call = outgoing(message, Some(who), None)?;
        many(self.0.clone().list_payments(call).await, "payments")
    }

    async fn children(&self, who: &Principal, id: &PaymentId) -> Result<Vec<Child>> {
        let call = outgoing(by_id(id), Some(who), None)?;
        many(self.0.clone().children(call).await, "children")
    }

    async fn events(&self, who: &Principal, query: EventQuery) -> Result<Vec<StoredEvent>> {
        let message = EventsRequest {
            payment: query.payment.map(|p| p.to_string()),
            after: query.after,
            limit: query.limit,
        };
        let call = outgoing(message, Some(who), None)?;
        reply(self.0.clone().events(call).await)?
            .events
            .into_iter()
            .map(|stored| {
                Ok(StoredEvent {
                    sequence: stored.sequence,
                    event: decode(stored.event, "event")?,
                })
            })
            .collect()
    }

    async fn create_customer(
        &self,
        who: &Principal,
        key: Option<&str>,
        new: NewCustomer,
    ) -> Result<Customer> {
        let message = CreateCustomerRequest {
            customer: Some(value(&new)?),
        };
        let call = outgoing(message, Some(who), key)?;
        one(self.0.clone().create_customer(call).await, "customer")
    }

    async fn customer(&self, who: &Principal, id: &CustomerId) -> Result<Customer> {
        let call = outgoing(by_id(id), Some(who), None)?;
        one(self.0.clone().get_customer(call).await, "customer")
    }

    async fn save_method(
        &self,
        who: &Principal,
        key: Option<&str>,
        customer: &CustomerId,
        method: MethodInput,
    ) -> Result<SavedMethod> {
        let message = SaveMethodRequest {
            customer: customer.to_string(),
            method: Some(value(&method)?),
        };
        let call = outgoing(message, Some(who), key)?;
        one(self.0.clone().save_method(call).await, "payment_method")
    }

    async fn saved_methods(
        &self,
        who: &Principal,
        customer: &CustomerId,
    ) -> Result<Vec<SavedMethod>> {
        let call = outgoing(by_id(customer), Some(who), None)?;
        many(self.0.clone().saved_methods(call).await, "payment_methods")
    }

    async fn detach_method(&self, who: &Principal, id: &PaymentMethodId) -> Result<SavedMethod> {
        let call = outgoing(by_id(id), Some(who), None)?;
        one(self.0.clone().detach_method(call).await, "payment_method")
    }

    async fn balances(
        &self,
        who: &Principal,
        assets: &[AssetCode],
    ) -> Result<Vec<MerchantBalance>> {
        let message = BalancesRequest {
            assets: assets.iter().map(ToString::to_string).collect(),
        };
        let call = outgoing(message, Some(who), None)?;
        many(self.0.clone().balances(call).await, "balances")
    }

    async fn add_endpoint(
        &self,
        who: &Principal,
        key: Option<&str>,
        url: &str,
    ) -> Result<NewEndpoint> {
        let message = AddEndpointRequest {
            url: url.to_owned(),
        };
        let call = outgoing(message, Some(who), key)?;
        one(self.0.clone().add_endpoint(call).await, "endpoint")
    }

    async fn endpoints(&self, who: &Principal) -> Result<Vec<EndpointView>> {
        let call = outgoing(Empty {}, Some(who), None)?;
        many(self.0.clone().endpoints(call).await, "endpoints")
    }

    async fn delivery_attempts(
        &self,
        who: &Principal,
        event: &EventId,
    ) -> Result<Vec<DeliveryAttempt>> {
        let call = outgoing(by_id(event), Some(who), None)?;
        many(self.0.clone().delivery_attempts(call).await, "attempts")
    }

    async fn provider_webhook(
        &self,
        provider: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Option<Payment>> {
        let message = ProviderWebhookRequest {
            provider: provider.to_owned(),
            headers: headers
                .iter()
                .map(|(name, value)| Header {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            body: body.to_vec(),
        };
        let call = outgoing(message, None, None)?;
        one(self.0.clone().provider_webhook(call).await, "payment")
    }

    async fn ready(&self) -> Result<()> {
        let call = outgoing(Empty {}, None, None)?;
        reply(self.0.clone().ready(call).await).map(|Empty {}| ())
    }
}

/// [`LedgerService`] over gRPC.
struct RemoteLedger(LedgerClient<Channel>);

#[async_trait]
impl LedgerService for RemoteLedger {
    async fn create_account(
        &self,
        who: &Principal,
        key: Option<&str>,
        new: NewAccount,
    ) -> Result<Account> {
        let call = outgoing(value(&new)?, Some(who), key)?;
        one(self.0.clone().create_account(call).await, "account")
    }

    async fn account(&self, who: &Principal, id: &AccountId) -> Result<(Account, Balance)> {
        let call = outgoing(by_id(id), Some(who), None)?;
        let answer = reply(self.0.clone().get_account(call).await)?;
        Ok((
            decode(answer.account, "account")?,
            decode(answer.balance, "balance")?,
        ))
    }

    async fn close_account(&self, who: &Principal, id: &AccountId) -> Result<Account> {
        let call = outgoing(by_id(id), Some(who), None)?;
        one(self.0.clone().close_account(call).await, "account")
    }

    async fn balance_at(&self, who: &Principal, id: &AccountId, at: Timestamp) -> Result<Balance> {
        let message = BalanceAtRequest {
            account: id.to_string(),
            at: at.as_micros(),
        };
        let call = outgoing(message, Some(who), None)?;
        one(self.0.clone().balance_at(call).await, "balance")
    }

    async fn submit(&self, who: &Principal, command: LedgerCommand) -> Result<Transaction> {
        let call = outgoing(value(&command)?, Some(who), None)?;
        one(self.0.clone().submit(call).await, "transaction")
    }

    async fn transaction(&self, who: &Principal, id: &TransactionId) -> Result<Transaction> {
        let call = outgoing(by_id(id), Some(who), None)?;
        one(self.0.clone().get_transaction(call).await, "transaction")
    }

    async fn hold(&self, who: &Principal, id: &TransactionId) -> Result<Hold> {
        let call = outgoing(by_id(id), Some(who), None)?;
        one(self.0.clone().get_hold(call).await, "hold")
    }

    async fn history(
        &self,
        who: &Principal,
        id: &AccountId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<HistoryEntry>> {
        let message = HistoryRequest {
            account: id.to_string(),
            cursor: cursor.map(str::to_owned),
            limit,
        };
        let call = outgoing(message, Some(who), None)?;
        one(self.0.clone().history(call).await, "history")
    }

    async fn ready(&self) -> Result<()> {
        let call = outgoing(Empty {}, None, None)?;
        reply(self.0.clone().ready(call).await).map(|Empty {}| ())
    }
}

/// [`AuthService`] over gRPC.
struct RemoteAuth(AuthClient<Channel>);

#[async_trait]
impl AuthService for RemoteAuth {
    async fn authenticate(&self, credential: &str) -> Result<Principal> {
        let message = AuthenticateRequest {
            credential: credential.to_owned(),
        };
        let call = outgoing(message, None, None)?;
        one(self.0.clone().authenticate(call).await, "principal")
    }

    async fn login(
        &self,
        request: crate::services::LoginRequest,
        source: Option<&str>,
    ) -> Result<IssuedTokens> {
        let message = LoginRequest {
            request: Some(value(&request)?),
            source: source.map(str::to_owned),
        };
        let call = outgoing(message, None, None)?;
        one(self.0.clone().login(call).await, "tokens")
    }

    async fn refresh(&self, refresh_token: &str) -> Result<IssuedTokens> {
        let message = RefreshTokenRequest {
            refresh_token: refresh_token.to_owned(),
        };
        let call = outgoing(message, None, None)?;
        one(self.0.clone().refresh(call).await, "tokens")
    }

    async fn logout(&self, refresh_token: &str) -> Result<()> {
        let message = RefreshTokenRequest {
            refresh_token: refresh_token.to_owned(),
        };
        let call = outgoing(message, None, None)?;
        reply(self.0.clone().logout(call).await).map(|Empty {}| ())
    }

    async fn jwks(&self) -> Result<Jwks> {
        let call = outgoing(Empty {}, None, None)?;
        one(self.0.clone().jwks(call).await, "jwks")
    }

    async fn create_user(
        &self,
        who: &Principal,
        key: Option<&str>,
        request: CreateUser,
    ) -> Result<UserView> {
        let call = outgoing(value(&request)?, Some(who), key)?;
        one(self.0.clone().create_user(call).await, "user")
    }

    async fn user(&self, who: &Principal, id: &UserId) -> Result<UserView> {
        let call = outgoing(by_id(id), Some(who), None)?;
        one(self.0.clone().get_user(call).await, "user")
    }

    async fn update_profile(
        &self,
        who: &Principal,
        id: &UserId,
        profile: Profile,
    ) -> Result<UserView> {
        let message = UpdateProfileRequest {
            id: id.to_string(),
            profile: Some(value(&profile)?),
        };
        let call = outgoing(message, Some(who), None)?;
        one(self.0.clone().update_profile(call).await, "user")
    }

    async fn issue_api_key(
        &self,
        who: &Principal,
        key: Option<&str>,
        request: CreateApiKey,
    ) -> Result<NewApiKey> {
        let call = outgoing(value(&request)?, Some(who), key)?;
        one(self.0.clone().issue_api_key(call).await, "api_key")
    }

    async fn api_keys(&self, who: &Principal) -> Result<Vec<ApiKeyView>> {
        let call = outgoing(Empty {}, Some(who), None)?;
        many(self.0.clone().api_keys(call).await, "api_keys")
    }

    async fn revoke_api_key(&self, who: &Principal, id: &ApiKeyId) -> Result<ApiKeyView> {
        let call = outgoing(by_id(id), Some(who), None)?;
        one(self.0.clone().revoke_api_key(call).await, "api_key")
    }

    async fn ready(&self) -> Result<()> {
        let call = outgoing(Empty {}, None, None)?;
        reply(self.0.clone().ready(call).await).map(|Empty {}| ())
    }
}
