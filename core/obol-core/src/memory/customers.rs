//! Customers and their saved payment methods.

use super::*;

#[async_trait]
impl CustomerStore for MemoryStore {
    async fn insert_customer(&self, customer: &Customer) -> Result<Customer> {
        Ok(self
            .lock()?
            .customers
            .entry(customer.id.clone())
            .or_insert_with(|| customer.clone())
            .clone())
    }

    async fn customer(&self, id: &CustomerId) -> Result<Option<Customer>> {
        Ok(self.lock()?.customers.get(id).cloned())
    }

    async fn save_method(&self, method: &SavedMethod) -> Result<()> {
        let mut state = self.lock()?;
        match state.methods.iter_mut().find(|m| m.id == method.id) {
            Some(existing) => existing.detached = method.detached,
            None => state.methods.push(method.clone()),
        }
        Ok(())
    }

    async fn saved_method(&self, id: &PaymentMethodId) -> Result<Option<SavedMethod>> {
        Ok(self.lock()?.methods.iter().find(|m| &m.id == id).cloned())
    }

    async fn saved_methods(&self, customer: &CustomerId) -> Result<Vec<SavedMethod>> {
        Ok(self
            .lock()?
            .methods
            .iter()
            .filter(|m| &m.customer == customer)
            .cloned()
            .collect())
    }
}
