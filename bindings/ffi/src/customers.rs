//! Customers and their saved cards: create and read a customer, save a card (tokenized by the
//! sandbox provider; only brand, last 4 and expiry are kept), list and detach saved cards, and
//! pay with one.

use std::collections::HashMap;
use std::time::SystemTime;

use obol::payments::{Customer, MethodInput, NewCustomer, SavedMethod};
use obol::{CustomerId, Result};

use crate::convert::{id, metadata, metadata_out, time};
use crate::error::PaymentError;
use crate::payments::{CardInput, PaymentRecord};
use crate::tenant::Tenant;

/// A new customer.
#[derive(Debug, Clone, uniffi::Record)]
pub struct NewCustomerInput {
    /// Its id (`cus_…`), so a retry names the same customer; new when absent.
    #[uniffi(default = None)]
    pub id: Option<String>,
    /// Email address.
    #[uniffi(default = None)]
    pub email: Option<String>,
    /// Display name.
    #[uniffi(default = None)]
    pub name: Option<String>,
    /// Free-form labels.
    pub metadata: HashMap<String, String>,
}

/// A customer.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CustomerRecord {
    /// `cus_…`.
    pub id: String,
    /// Email address.
    pub email: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Free-form labels.
    pub metadata: HashMap<String, String>,
    /// When created.
    pub created_at: SystemTime,
}

impl From<Customer> for CustomerRecord {
    fn from(customer: Customer) -> Self {
        CustomerRecord {
            id: customer.id.to_string(),
            email: customer.email,
            name: customer.name,
            metadata: metadata_out(customer.metadata),
            created_at: time(customer.created_at),
        }
    }
}

/// A card saved for a customer: what may be shown of it, never the number.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SavedCardRecord {
    /// `pm_…`.
    pub id: String,
    /// The owner (`cus_…`).
    pub customer: String,
    /// `visa`, `mastercard`, `amex`, `discover` or `unknown`.
    pub brand: Option<String>,
    /// The last four digits.
    pub last4: Option<String>,
    /// Expiry month (1–12).
    pub exp_month: Option<u8>,
    /// Expiry year.
    pub exp_year: Option<u16>,
    /// Detached cards can no longer be used.
    pub detached: bool,
    /// When saved.
    pub created_at: SystemTime,
}

impl From<SavedMethod> for SavedCardRecord {
    fn from(method: SavedMethod) -> Self {
        let card = method.token.card;
        SavedCardRecord {
            id: method.id.to_string(),
            customer: method.customer.to_string(),
            brand: card.as_ref().map(|c| c.brand.as_str().to_owned()),
            last4: card.as_ref().map(|c| c.last4.clone()),
            exp_month: card.as_ref().map(|c| c.exp_month),
            exp_year: card.as_ref().map(|c| c.exp_year),
            detached: method.detached,
            created_at: time(method.created_at),
        }
    }
}

#[uniffi::export]
impl Tenant {
    /// Creates a customer of the tenant; the same id and details again answer the stored
    /// customer, other details `idempotency_conflict`.
    pub async fn create_customer(
        &self,
        input: NewCustomerInput,
    ) -> Result<CustomerRecord, PaymentError> {
        self.call(|tenant| async move {
            let customer_id = match &input.id {
                Some(given) => id(given)?,
                None => CustomerId::generate(tenant.ids()),
            };
            let mut new = NewCustomer::new(customer_id);
            new.email = input.email;
            new.name = input.name;
            new.metadata = metadata(input.metadata);
            tenant.create_customer(None, new).await
        })
        .await
        .map(CustomerRecord::from)
    }

    /// One of the tenant's customers.
    pub async fn customer(&self, customer_id: String) -> Result<CustomerRecord, PaymentError> {
        self.call(|tenant| async move { tenant.customer(&id(&customer_id)?).await })
            .await
            .map(CustomerRecord::from)
    }

    /// Tokenizes a card with the sandbox (test mode only) and saves it for the customer.
    pub async fn save_card(
        &self,
        customer_id: String,
        card: CardInput,
        idempotency_key: Option<String>,
    ) -> Result<SavedCardRecord, PaymentError> {
        self.call(|tenant| async move {
            tenant
                .save_method(
                    idempotency_key.as_deref(),
                    &id(&customer_id)?,
                    card.method(),
                )
                .await
        })
        .await
        .map(SavedCardRecord::from)
    }

    /// The customer's usable saved cards, oldest first.
    pub async fn saved_cards(
        &self,
        customer_id: String,
    ) -> Result<Vec<SavedCardRecord>, PaymentError> {
        self.call(|tenant| async move { tenant.saved_methods(&id(&customer_id)?).await })
            .await
            .map(|found| found.into_iter().map(SavedCardRecord::from).collect())
    }

    /// Detaches a saved card: it can no longer be used.
    pub async fn detach_card(&self, method_id: String) -> Result<SavedCardRecord, PaymentError> {
        self.call(|tenant| async move { tenant.detach_method(&id(&method_id)?).await })
            .await
            .map(SavedCardRecord::from)
    }

    /// Attaches one of the payment's customer's saved cards to the payment.
    pub async fn attach_saved_card(
        &self,
        payment_id: String,
        method_id: String,
        idempotency_key: Option<String>,
    ) -> Result<PaymentRecord, PaymentError> {
        self.call(|tenant| async move {
            let method = MethodInput::Saved(id(&method_id)?);
            tenant
                .attach_method(idempotency_key.as_deref(), &id(&payment_id)?, method)
                .await
        })
        .await
        .map(PaymentRecord::from)
    }
}
