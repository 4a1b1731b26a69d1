//! Customers and their saved payment methods (provider tokens, never card data).

use super::*;

impl Payments {
    /// Creates a customer; the same id and details again return the stored customer, other
    /// details `idempotency_conflict`.
    pub async fn create_customer(&self, new: NewCustomer) -> Result<Customer> {
        new.validate()?;
        let customer = Customer {
            id: new.id.clone(),
            email: new.email.clone(),
            name: new.name.clone(),
            merchant: new.merchant.clone(),
            mode: new.mode,
            metadata: new.metadata.clone(),
            created_at: self.ledger.now(),
        };
        let stored = self.ledger.store().insert_customer(&customer).await?;
        if !stored.matches(&new) {
            return Err(Error::IdempotencyConflict {
                id: new.id.to_string(),
            });
        }
        Ok(stored)
    }

    /// A customer.
    pub async fn customer(&self, id: &CustomerId) -> Result<Customer> {
        self.ledger
            .store()
            .customer(id)
            .await?
            .ok_or_else(|| Error::CustomerNotFound { id: id.to_string() })
    }

    /// Saves a tokenized payment method for a customer.
    pub async fn save_method(
        &self,
        customer: &CustomerId,
        token: MethodToken,
    ) -> Result<SavedMethod> {
        let owner = self.customer(customer).await?.merchant;
        let provider = self.provider(&token.provider)?;
        if !provider.accepts_token(&token, &owner) {
            // Another merchant's token, or one this provider never issued.
            return Err(Error::InvalidCard {
                reason: "the token is not one this provider issued for the merchant".into(),
            });
        }
        let token = match provider.tokenizer() {
            Some(tokenizer) => tokenizer.keep_for_customer(&owner, customer, token).await?,
            None => token,
        };
        let method = SavedMethod {
            id: PaymentMethodId::generate(self.ledger.ids().as_ref()),
            customer: customer.clone(),
            token,
            detached: false,
            created_at: self.ledger.now(),
        };
        self.ledger.store().save_method(&method).await?;
        Ok(method)
    }

    /// Tokenizes a card with `provider` and saves it for the customer. An unknown customer
    /// is refused before the card goes anywhere.
    pub async fn save_card(
        &self,
        customer: &CustomerId,
        provider: &str,
        card: &CardDetails,
    ) -> Result<SavedMethod> {
        let owner = self.customer(customer).await?.merchant;
        let token = self.tokenize_card(provider, &owner, card).await?;
        self.save_method(customer, token).await
    }

    /// A customer's usable saved payment methods, oldest first.
    pub async fn saved_methods(&self, customer: &CustomerId) -> Result<Vec<SavedMethod>> {
        self.customer(customer).await?;
        let all = self.ledger.store().saved_methods(customer).await?;
        Ok(all.into_iter().filter(|m| !m.detached).collect())
    }

    /// Detaches a saved payment method: it can no longer be used.
    pub async fn detach_method(&self, id: &PaymentMethodId) -> Result<SavedMethod> {
        let mut method = self.usable_method(id).await?;
        method.detached = true;
        self.ledger.store().save_method(&method).await?;
        Ok(method)
    }

    /// A saved method that is still usable (not detached).
    pub async fn usable_method(&self, id: &PaymentMethodId) -> Result<SavedMethod> {
        self.ledger
            .store()
            .saved_method(id)
            .await?
            .filter(|m| !m.detached)
            .ok_or_else(|| Error::PaymentMethodNotFound { id: id.to_string() })
    }

    /// Attaches one of the payment's customer's saved methods.
    pub async fn attach_saved_method(
        &self,
        payment: &PaymentId,
        method: &PaymentMethodId,
    ) -> Result<Payment> {
        let saved = self.usable_method(method).await?;
        let owner = self.payment(payment).await?.customer;
        if owner.as_ref() != Some(&saved.customer) {
            // Another customer's method is as good as unknown here.
            return Err(Error::PaymentMethodNotFound {
                id: method.to_string(),
            });
        }
        self.attach_method(payment, saved.token).await
    }

    /// Tokenizes a card with a provider for `merchant` (card details go to the provider
    /// only; the token is good for that merchant's payments only).
    pub async fn tokenize_card(
        &self,
        provider: &str,
        merchant: &MerchantId,
        card: &CardDetails,
    ) -> Result<MethodToken> {
        let provider = self.provider(provider)?;
        provider
            .tokenizer()
            .ok_or_else(|| unsupported(provider.as_ref(), "tokenize_card"))?
            .tokenize_card(merchant, card)
            .await
    }
}
