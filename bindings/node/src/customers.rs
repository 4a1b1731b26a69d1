//! Customers and their saved cards: create and read a customer, save a card (tokenized by the
//! sandbox provider; only brand, last 4 and expiry are kept), list and detach saved cards, and
//! pay with one.

use std::collections::HashMap;

use napi::Env;
use napi::bindgen_prelude::{PromiseRaw, Result};
use napi_derive::napi;
use obol::CustomerId;
use obol::payments::{Customer, MethodInput, NewCustomer, SavedMethod};

use crate::convert::{id, metadata, metadata_out, millis, promise};
use crate::payments::{CardInput, PaymentRecord};
use crate::tenant::Tenant;

/// A new customer.
#[napi(object)]
pub struct NewCustomerInput {
    /// Its id (`cus_…`), so a retry names the same customer; new when absent.
    pub id: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Free-form labels.
    pub metadata: Option<HashMap<String, String>>,
}

/// A customer.
#[napi(object)]
pub struct CustomerRecord {
    /// `cus_…`.
    pub id: String,
    /// Email address.
    pub email: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Free-form labels.
    pub metadata: HashMap<String, String>,
    /// When created (milliseconds since 1970).
    pub created_at: i64,
}

impl From<Customer> for CustomerRecord {
    fn from(customer: Customer) -> Self {
        CustomerRecord {
            id: customer.id.to_string(),
            email: customer.email,
            name: customer.name,
            metadata: metadata_out(customer.metadata),
            created_at: millis(customer.created_at),
        }
    }
}

/// A card saved for a customer: what may be shown of it, never the number.
#[napi(object)]
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
    pub exp_month: Option<u32>,
    /// Expiry year.
    pub exp_year: Option<u32>,
    /// Detached cards can no longer be used.
    pub detached: bool,
    /// When saved (milliseconds since 1970).
    pub created_at: i64,
}

impl From<SavedMethod> for SavedCardRecord {
    fn from(method: SavedMethod) -> Self {
        let card = method.token.card;
        SavedCardRecord {
            id: method.id.to_string(),
            customer: method.customer.to_string(),
            brand: card.as_ref().map(|c| c.brand.as_str().to_owned()),
            last4: card.as_ref().map(|c| c.last4.clone()),
            exp_month: card.as_ref().map(|c| u32::from(c.exp_month)),
            exp_year: card.as_ref().map(|c| u32::from(c.exp_year)),
            detached: method.detached,
            created_at: millis(method.created_at),
        }
    }
}

#[napi]
impl Tenant {
    /// Creates a customer; the same id and details again answer the stored customer, other
    /// details reject with `idempotency_conflict`.
    #[napi]
    pub fn create_customer<'env>(
        &self,
        env: &'env Env,
        input: NewCustomerInput,
    ) -> Result<PromiseRaw<'env, CustomerRecord>> {
        let tenant = self.scoped();
        promise(env, async move {
            let tenant = tenant?;
            let customer_id = match &input.id {
                Some(given) => id(given)?,
                None => CustomerId::generate(tenant.ids()),
            };
            let mut new = NewCustomer::new(customer_id);
            new.email = input.email;
            new.name = input.name;
            new.metadata = metadata(input.metadata);
            let customer = tenant.create_customer(None, new).await?;
            Ok(CustomerRecord::from(customer))
        })
    }

    /// A customer.
    #[napi]
    pub fn customer<'env>(
        &self,
        env: &'env Env,
        customer_id: String,
    ) -> Result<PromiseRaw<'env, CustomerRecord>> {
        let tenant = self.scoped();
        promise(env, async move {
            let customer = tenant?.customer(&id(&customer_id)?).await?;
            Ok(CustomerRecord::from(customer))
        })
    }

    /// Tokenizes a card with the sandbox (test mode only) and saves it for the customer.
    #[napi]
    pub fn save_card<'env>(
        &self,
        env: &'env Env,
        customer_id: String,
        card: CardInput,
        idempotency_key: Option<String>,
    ) -> Result<PromiseRaw<'env, SavedCardRecord>> {
        let tenant = self.scoped();
        promise(env, async move {
            let saved = tenant?
                .save_method(
                    idempotency_key.as_deref(),
                    &id(&customer_id)?,
                    card.method(),
                )
                .await?;
            Ok(SavedCardRecord::from(saved))
        })
    }

    /// The customer's usable saved cards, oldest first.
    #[napi]
    pub fn saved_cards<'env>(
        &self,
        env: &'env Env,
        customer_id: String,
    ) -> Result<PromiseRaw<'env, Vec<SavedCardRecord>>> {
        let tenant = self.scoped();
        promise(env, async move {
            let found = tenant?.saved_methods(&id(&customer_id)?).await?;
            Ok(found.into_iter().map(SavedCardRecord::from).collect())
        })
    }

    /// Detaches a saved card: it can no longer be used.
    #[napi]
    pub fn detach_card<'env>(
        &self,
        env: &'env Env,
        method_id: String,
    ) -> Result<PromiseRaw<'env, SavedCardRecord>> {
        let tenant = self.scoped();
        promise(env, async move {
            let detached = tenant?.detach_method(&id(&method_id)?).await?;
            Ok(SavedCardRecord::from(detached))
        })
    }

    /// Attaches one of the payment's customer's saved cards to the payment.
    #[napi]
    pub fn attach_saved_card<'env>(
        &self,
        env: &'env Env,
        payment_id: String,
        method_id: String,
        idempotency_key: Option<String>,
    ) -> Result<PromiseRaw<'env, PaymentRecord>> {
        let tenant = self.scoped();
        promise(env, async move {
            let method = MethodInput::Saved(id(&method_id)?);
            let payment = tenant?
                .attach_method(idempotency_key.as_deref(), &id(&payment_id)?, method)
                .await?;
            Ok(PaymentRecord::from(payment))
        })
    }
}
