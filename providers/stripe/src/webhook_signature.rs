//! Stripe's webhook signatures: the `Stripe-Signature` header is `t=<unix seconds>` and one or
//! more `v1=<hex HMAC-SHA256>` entries (several while the endpoint's secret rotates; `v0`
//! and unknown schemes are ignored), the MAC keyed by the endpoint's `whsec_…` secret over
//! `{t}.{body}`. A delivery is good when its timestamp is within the tolerance of now and one
//! `v1` entry matches, compared in constant time.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use obol_core::clock::Timestamp;
use obol_core::error::{Error, Result};
use sha2::Sha256;

/// How far a delivery's timestamp may be from now: Stripe's libraries use five minutes.
pub const TOLERANCE_SECONDS: u64 = 300;
/// The most entries one header may carry; Stripe sends two or three.
pub const MAX_ENTRIES: usize = 16;
/// The longest header read (a few entries of 64 hex digits fit many times over).
pub const MAX_HEADER_BYTES: usize = 2048;

/// An endpoint's signing secret (`whsec_…`): wiped on drop, never shown by Debug.
#[derive(Clone, zeroize::ZeroizeOnDrop)]
pub struct StripeWebhookSecret(String);

impl fmt::Debug for StripeWebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StripeWebhookSecret(…)")
    }
}

fn invalid(reason: &str) -> Error {
    Error::WebhookSignatureInvalid {
        reason: reason.to_owned(),
    }
}

impl StripeWebhookSecret {
    /// Reads the secret Stripe shows for an endpoint: `whsec_` and at least 16 more
    /// printable characters. Stripe keys the MAC with the whole text, prefix included.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let body_ok = text
            .strip_prefix("whsec_")
            .is_some_and(|rest| rest.len() >= 16 && rest.bytes().all(|b| b.is_ascii_graphic()));
        if !body_ok {
            return Err(Error::Config {
                reason: "a Stripe webhook secret is whsec_ followed by at least 16 printable \
                         characters"
                    .into(),
            });
        }
        Ok(StripeWebhookSecret(text.to_owned()))
    }

    fn mac(&self, timestamp: &str, body: &[u8]) -> Result<Hmac<Sha256>> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.as_bytes())
            .map_err(|_| Error::corrupt("HMAC refused the key"))?;
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        Ok(mac)
    }

    /// The header Stripe would send for `body` at `timestamp` (tests and the fake).
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> Result<String> {
        let stamp = timestamp.to_string();
        let tag = self.mac(&stamp, body)?.finalize().into_bytes();
        Ok(format!("t={stamp},v1={}", hex::encode(tag)))
    }
}

/// Checks a delivery: the header well formed, its timestamp within [`TOLERANCE_SECONDS`]
/// of `now`, and one `v1` entry the MAC of `{t}.{body}`.
pub fn verify(
    secret: &StripeWebhookSecret,
    header: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<()> {
    if header.len() > MAX_HEADER_BYTES {
        return Err(invalid("Stripe-Signature is too long"));
    }
    if header.split(',').nth(MAX_ENTRIES).is_some() {
        return Err(invalid("Stripe-Signature has too many entries"));
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for entry in header.split(',') {
        let Some((scheme, value)) = entry.trim().split_once('=') else {
            return Err(invalid("Stripe-Signature entries are scheme=value"));
        };
        match scheme {
            "t" if timestamp.is_some() => return Err(invalid("Stripe-Signature has two t")),
            "t" => timestamp = Some(value),
            "v1" => signatures.push(value),
            _ => {}
        }
    }
    let stamp = timestamp.ok_or_else(|| invalid("Stripe-Signature has no t"))?;
    // Digits only, as signed: `+1700000000` must not pass for `1700000000`.
    let seconds: i64 = Some(stamp)
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("Stripe-Signature t is not a number of seconds"))?;
    let now_seconds = now.as_micros().div_euclid(1_000_000);
    if now_seconds.abs_diff(seconds) > TOLERANCE_SECONDS {
        return Err(invalid("Stripe-Signature t is too far from now"));
    }
    if signatures.is_empty() {
        return Err(invalid("Stripe-Signature has no v1 signature"));
    }
    let mac = secret.mac(stamp, body)?;
    let matched = signatures.iter().any(|candidate| {
        hex::decode(candidate).is_ok_and(|tag| mac.clone().verify_slice(&tag).is_ok())
    });
    if matched {
        Ok(())
    } else {
        Err(invalid("no v1 signature matches"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret_0123456789abcdef";
    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;

    fn secret() -> StripeWebhookSecret {
        StripeWebhookSecret::parse("whsec_0123456789abcdefABCDEF").unwrap()
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_micros(seconds * 1_000_000)
    }

    #[test]
    fn a_signed_delivery_verifies_also_beside_rotated_and_unknown_entries() {
        let header = secret().sign(NOW, BODY).unwrap();
        assert!(verify(&secret(), &header, BODY, at(NOW)).is_ok());
        assert!(verify(&secret(), &header, BODY, at(NOW + 300)).is_ok());
        let (t, v1) = header.split_once(',').unwrap();
        let rotated = format!("{t}, v1={}, {v1},v0=abc,v9=zz", "00".repeat(32));
        assert!(verify(&secret(), &rotated, BODY, at(NOW)).is_ok());
    }

    #[test]
    fn a_known_stripe_vector_verifies() {
        // HMAC-SHA256("whsec_0123456789abcdefABCDEF", "1700000000.{body}"), computed
        // independently with Python's hmac module.
        let expected =
            "t=1700000000,v1=bffc9279a04e907ac14a6cb6a2122ccb4805727445ddaeb5ca29a0c377e88f19";
        assert_eq!(secret().sign(NOW, BODY).unwrap(), expected);
        assert!(verify(&secret(), expected, BODY, at(NOW)).is_ok());
    }

    #[test]
    fn hostile_headers_are_refused_without_panics() {
        let good = secret().sign(NOW, BODY).unwrap();
        let v1 = good.split_once(',').unwrap().1;
        let long = format!("t={NOW},{}", vec![v1; 40].join(","));
        let cases = [
            ("tampered body", good.clone(), &b"{}"[..]),
            ("stale", secret().sign(NOW - 301, BODY).unwrap(), BODY),
            ("future", secret().sign(NOW + 301, BODY).unwrap(), BODY),
            ("no t", v1.to_owned(), BODY),
            ("two t", format!("t={NOW},{good}"), BODY),
            ("plus sign", good.replacen("t=", "t=+", 1), BODY),
            ("leading space in t", good.replacen("t=", "t= ", 1), BODY),
            ("minimum i64", format!("t=-9223372036854775808,{v1}"), BODY),
            ("huge t", format!("t=99999999999999999999999,{v1}"), BODY),
            ("no v1", format!("t={NOW},v0=abc"), BODY),
            ("not hex", format!("t={NOW},v1=zz"), BODY),
            ("empty", String::new(), BODY),
            ("no equals", "garbage".to_owned(), BODY),
            ("too many entries", long, BODY),
            ("too long", format!("t={NOW},v1={}", "a".repeat(4096)), BODY),
            (
                "other secret",
                StripeWebhookSecret::parse(SECRET)
                    .unwrap()
                    .sign(NOW, BODY)
                    .unwrap(),
                BODY,
            ),
        ];
        for (name, header, body) in cases {
            let err = verify(&secret(), &header, body, at(NOW)).unwrap_err();
            assert_eq!(err.code(), "webhook_signature_invalid", "{name}");
        }
    }

    #[test]
    fn secrets_are_checked_and_never_shown() {
        for bad in [
            "",
            "whsec_",
            "whsec_short",
            "sk_test_0123456789abcdef",
            "whsec_0123456789abc def",
        ] {
            assert!(StripeWebhookSecret::parse(bad).is_err(), "{bad}");
        }
        assert!(!format!("{:?}", secret()).contains("0123"));
    }
}
