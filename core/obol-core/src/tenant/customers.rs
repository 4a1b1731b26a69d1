//! A tenant's customers and their saved payment methods.

use super::Tenant;
use super::keys::Operation;
use crate::auth::Scope;
use crate::error::{Error, Result};
use crate::id::{CustomerId, PaymentMethodId};
use crate::payments::{Customer, MethodInput, NewCustomer, SavedMethod};

impl Tenant {
    /// Creates a customer of the tenant's merchant; the same id and details again return
    /// it, other details `idempotency_conflict`.
    pub async fn create_customer(&self, key: Option<&str>, new: NewCustomer) -> Result<Customer> {
        self.require(Scope::PaymentsWrite)?;
        let new = new
            .for_merchant(self.merchant().clone())
            .in_mode(self.mode());
        self.once(Operation::CreateCustomer, key, &new, |_| {
            self.payments.create_customer(new.clone())
        })
        .await
    }

    /// One of the tenant's customers.
    pub async fn customer(&self, id: &CustomerId) -> Result<Customer> {
        self.require(Scope::PaymentsRead)?;
        self.own_customer(id).await
    }

    /// Saves a method for a customer (a card is tokenized first, in test mode; its data goes
    /// no further).
    pub async fn save_method(
        &self,
        key: Option<&str>,
        customer: &CustomerId,
        method: MethodInput,
    ) -> Result<SavedMethod> {
        self.require(Scope::PaymentsWrite)?;
        self.own_customer(customer).await?;
        let request = (customer, method.fingerprint());
        self.once(Operation::SaveMethod, key, &request, |_| async {
            let token = self.resolve_method(Some(customer), None, method).await?;
            self.payments.save_method(customer, token).await
        })
        .await
    }

    /// A customer's usable saved methods.
    pub async fn saved_methods(&self, customer: &CustomerId) -> Result<Vec<SavedMethod>> {
        self.require(Scope::PaymentsRead)?;
        self.own_customer(customer).await?;
        self.payments.saved_methods(customer).await
    }

    /// Detaches a saved method: it can no longer be used.
    pub async fn detach_method(&self, id: &PaymentMethodId) -> Result<SavedMethod> {
        self.require(Scope::PaymentsWrite)?;
        let method = self.payments.usable_method(id).await?;
        if self.own_customer(&method.customer).await.is_err() {
            return Err(Error::PaymentMethodNotFound { id: id.to_string() });
        }
        self.payments.detach_method(id).await
    }

    /// A customer of the tenant's merchant and mode; any other is as good as unknown.
    pub(super) async fn own_customer(&self, id: &CustomerId) -> Result<Customer> {
        let customer = self.payments.customer(id).await?;
        if customer.merchant != *self.merchant() || customer.mode != self.mode() {
            return Err(Error::CustomerNotFound { id: id.to_string() });
        }
        Ok(customer)
    }
}
