//! Obol's tokens for Stripe PaymentMethods. A token names the PaymentMethod (and, once saved
//! for a customer, the Stripe Customer it is attached to) and carries a MAC binding both to
//! the merchant it was made for, so one merchant's token is refused for another's payments
//! without a call to Stripe.

use hmac::{Hmac, KeyInit, Mac};
use obol_core::error::{Error, Result};
use obol_core::id::MerchantId;
use sha2::Sha256;

/// Bytes of MAC a token carries (hex-encoded).
const TAG_BYTES: usize = 16;

/// A token's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeToken {
    /// The PaymentMethod (`pm_…`).
    pub payment_method: String,
    /// The Customer it is attached to (`cus_…`), for a saved method.
    pub customer: Option<String>,
}

pub(crate) fn is_stripe_id(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix).is_some_and(|rest| {
        (1..=200).contains(&rest.len())
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

fn mac(key: &[u8; 32], merchant: &MerchantId, token: &StripeToken) -> Result<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key)
        .map_err(|_| Error::corrupt("HMAC refused the Stripe token key"))?;
    let customer = token.customer.as_deref().unwrap_or_default();
    for part in [
        "obol-stripe-token",
        merchant.as_str(),
        &token.payment_method,
        customer,
    ] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    Ok(mac)
}

impl StripeToken {
    /// The token text for `merchant`: `pm_….tag` or `pm_….cus_….tag`.
    pub fn seal(&self, key: &[u8; 32], merchant: &MerchantId) -> Result<String> {
        if !is_stripe_id(&self.payment_method, "pm_")
            || self
                .customer
                .as_deref()
                .is_some_and(|c| !is_stripe_id(c, "cus_"))
        {
            return Err(Error::InvalidCard {
                reason: "Stripe answered with an id Obol does not recognise".into(),
            });
        }
        let tag = &mac(key, merchant, self)?.finalize().into_bytes()[..TAG_BYTES];
        Ok(match &self.customer {
            Some(customer) => format!("{}.{customer}.{}", self.payment_method, hex::encode(tag)),
            None => format!("{}.{}", self.payment_method, hex::encode(tag)),
        })
    }

    /// Reads a token made for `merchant` (its MAC checked in constant time), or `None`.
    pub fn open(text: &str, key: &[u8; 32], merchant: &MerchantId) -> Option<StripeToken> {
        if text.len() > 512 {
            return None;
        }
        let parts: Vec<&str> = text.split('.').collect();
        let (token, tag) = match parts.as_slice() {
            [pm, tag] => (
                StripeToken {
                    payment_method: (*pm).to_owned(),
                    customer: None,
                },
                tag,
            ),
            [pm, customer, tag] => (
                StripeToken {
                    payment_method: (*pm).to_owned(),
                    customer: Some((*customer).to_owned()),
                },
                tag,
            ),
            _ => return None,
        };
        if !is_stripe_id(&token.payment_method, "pm_")
            || token
                .customer
                .as_deref()
                .is_some_and(|c| !is_stripe_id(c, "cus_"))
        {
            return None;
        }
        // One spelling per token: lower-case hex only.
        if !tag
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return None;
        }
        let tag = hex::decode(tag).ok().filter(|t| t.len() == TAG_BYTES)?;
        mac(key, merchant, &token)
            .ok()?
            .verify_truncated_left(&tag)
            .ok()
            .map(|()| token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [9; 32];

    fn merchant(name: &str) -> MerchantId {
        MerchantId::derived(name)
    }

    #[test]
    fn a_token_opens_for_its_own_merchant_only() {
        let acme = merchant("acme");
        let token = StripeToken {
            payment_method: "pm_1Abc".into(),
            customer: Some("cus_9Xy".into()),
        };
        let text = token.seal(&KEY, &acme).unwrap();
        assert!(text.starts_with("pm_1Abc.cus_9Xy."));
        assert_eq!(StripeToken::open(&text, &KEY, &acme), Some(token.clone()));
        assert_eq!(StripeToken::open(&text, &KEY, &merchant("globex")), None);
        assert_eq!(StripeToken::open(&text, &[8; 32], &acme), None);
        // The customer cannot be swapped or dropped.
        let tag = text.rsplit('.').next().unwrap();
        for forged in [
            format!("pm_1Abc.cus_OTHER.{tag}"),
            format!("pm_1Abc.{tag}"),
            format!("pm_2Abc.cus_9Xy.{tag}"),
        ] {
            assert_eq!(StripeToken::open(&forged, &KEY, &acme), None, "{forged}");
        }
    }

    #[test]
    fn hostile_token_text_is_refused() {
        let acme = merchant("acme");
        for bad in [
            "",
            ".",
            "pm_",
            "pm_1.",
            "pm_1.zz",
            "pm_1.cus_2.cus_3.00",
            "tok_1.00112233445566778899aabbccddeeff",
            "pm_1\n.00112233445566778899aabbccddeeff",
            "pm_1.00112233445566778899aabbccddee",
        ] {
            assert_eq!(StripeToken::open(bad, &KEY, &acme), None, "{bad:?}");
        }
        assert_eq!(StripeToken::open(&"a".repeat(100_000), &KEY, &acme), None);
        let text = StripeToken {
            payment_method: "pm_1".into(),
            customer: None,
        }
        .seal(&KEY, &acme)
        .unwrap();
        let (pm, tag) = text.split_once('.').unwrap();
        let shouted = format!("{pm}.{}", tag.to_ascii_uppercase());
        assert_ne!(shouted, text);
        assert_eq!(StripeToken::open(&shouted, &KEY, &acme), None);
    }
}
