//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): every delivery carries
//! `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` + base64
//! HMAC-SHA256 of `{id}.{timestamp}.{body}`, several space-separated during key rotation).
//! Secrets are `whsec_` + base64 of the key. [`verify`] is the receiver's side.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::Sha256;

use crate::clock::Timestamp;
use crate::error::{Error, Result};

/// How far a delivery's timestamp may be from the receiver's clock (either way).
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

pub(crate) const PREFIX: &str = "whsec_";
/// The most signatures one `webhook-signature` header may list.
pub const MAX_SIGNATURES: usize = 8;

/// HTTP headers as (name, value) pairs.
pub type Headers = Vec<(String, String)>;

/// A signing secret: wiped on drop, and Debug and errors never show it.
#[derive(Clone, zeroize::ZeroizeOnDrop)]
pub struct WebhookSecret(Vec<u8>);

/// Compared in constant time (RustCrypto's `subtle`).
impl PartialEq for WebhookSecret {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for WebhookSecret {}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

fn invalid(reason: &str) -> Error {
    Error::WebhookSignatureInvalid {
        reason: reason.to_owned(),
    }
}

impl WebhookSecret {
    /// Reads `whsec_…`.
    pub fn parse(text: &str) -> Result<Self> {
        let key = text
            .strip_prefix(PREFIX)
            .and_then(|b64| BASE64.decode(b64).ok())
            .map(WebhookSecret)
            .filter(|key| (24..=64).contains(&key.0.len()))
            .ok_or_else(|| Error::Config {
                reason: "a webhook secret is whsec_ followed by base64 of 24 to 64 bytes".into(),
            })?;
        Ok(key)
    }

    /// A secret from its raw bytes (24 to 64 of them), as a sealer opened it.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if (24..=64).contains(&bytes.len()) {
            Ok(WebhookSecret(bytes.to_vec()))
        } else {
            Err(Error::corrupt(
                "a sealed webhook secret has the wrong length",
            ))
        }
    }

    /// The raw bytes, for sealing.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// A new random 32-byte secret.
    pub fn random(rng: &mut impl Rng) -> Self {
        let mut key = vec![0u8; 32];
        rng.fill_bytes(&mut key);
        WebhookSecret(key)
    }

    /// The `whsec_…` text, to hand to the receiver once.
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", BASE64.encode(&self.0))
    }

    /// The MAC over `{id}.{timestamp}.{body}`, the timestamp as the header carries it.
    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> Result<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0)
            .map_err(|_| Error::corrupt("HMAC refused the key"))?;
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        Ok(mac)
    }

    /// The `webhook-signature` value for a delivery.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> Result<String> {
        let tag = self
            .mac(id, &timestamp.to_string(), body)?
            .finalize()
            .into_bytes();
        Ok(format!("v1,{}", BASE64.encode(tag)))
    }

    /// The three headers of a delivery sent at `now`.
    pub fn headers(&self, id: &str, now: Timestamp, body: &[u8]) -> Result<Headers> {
        let timestamp = now.as_micros().div_euclid(1_000_000);
        Ok(vec![
            ("webhook-id".into(), id.to_owned()),
            ("webhook-timestamp".into(), timestamp.to_string()),
            ("webhook-signature".into(), self.sign(id, timestamp, body)?),
        ])
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Result<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
        .ok_or_else(|| invalid(&format!("missing {name} header")))
}

/// Checks a delivery the way a receiver must: all three headers present, the timestamp within
/// [`TOLERANCE_SECONDS`] of `now`, and one `v1` signature matching (compared in constant time).
/// Returns the `webhook-id`, for deduplication.
pub fn verify(
    secret: &WebhookSecret,
    headers: &[(String, String)],
    body: &[u8],
    now: Timestamp,
) -> Result<String> {
    let id = header(headers, "webhook-id")?;
    // Unix seconds in digits only: the MAC covers the header as sent, so `+1700000000` or
    // `01700000000` must not pass for `1700000000` (found by fuzzing against the reference).
    let timestamp_text = header(headers, "webhook-timestamp")?;
    let timestamp: i64 = timestamp_text
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| timestamp_text.parse().ok())
        .flatten()
        .filter(|_| timestamp_text.len() == 1 || !timestamp_text.starts_with('0'))
        .ok_or_else(|| invalid("webhook-timestamp is not a number of seconds"))?;
    let now_seconds = now.as_micros().div_euclid(1_000_000);
    // abs_diff cannot overflow, whatever the header says (i64::MIN included).
    if now_seconds.abs_diff(timestamp) > TOLERANCE_SECONDS.unsigned_abs() {
        return Err(invalid("webhook-timestamp is too far from now"));
    }
    let signatures = header(headers, "webhook-signature")?;
    // A sender rotating secrets lists a few signatures, never hundreds: a longer list only
    // makes the receiver work (counted without collecting it).
    if signatures.split(' ').nth(MAX_SIGNATURES).is_some() {
        return Err(invalid("webhook-signature lists too many signatures"));
    }
    // The body is hashed once; each candidate is checked against a copy of that state.
    let mac = secret.mac(id, timestamp_text, body)?;
    for candidate in signatures.split(' ') {
        let Some(encoded) = candidate.strip_prefix("v1,") else {
            continue;
        };
        let Ok(tag) = BASE64.decode(encoded) else {
            continue;
        };
        if mac.clone().verify_slice(&tag).is_ok() {
            return Ok(id.to_owned());
        }
    }
    Err(invalid("no signature matches"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Standard Webhooks reference vector.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_micros(seconds * 1_000_000)
    }

    type Case<'a> = (
        &'a WebhookSecret,
        Vec<(String, String)>,
        &'a [u8],
        Timestamp,
    );

    fn headers(signature: &str, timestamp: i64) -> Vec<(String, String)> {
        vec![
            ("Webhook-Id".into(), ID.into()),
            ("webhook-timestamp".into(), timestamp.to_string()),
            ("webhook-signature".into(), signature.into()),
        ]
    }

    #[test]
    fn a_long_signature_list_is_refused_before_any_work() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let eight = ["v1,AAAA"; MAX_SIGNATURES - 1].join(" ") + " " + SIGNATURE;
        assert!(verify(&secret, &headers(&eight, TIMESTAMP), BODY, at(TIMESTAMP)).is_ok());
        let many = vec!["v1,AAAA"; 40_000].join(" ") + " " + SIGNATURE;
        let refused = verify(&secret, &headers(&many, TIMESTAMP), BODY, at(TIMESTAMP));
        assert_eq!(refused.unwrap_err().code(), "webhook_signature_invalid");
    }

    #[test]
    fn matches_the_reference_vector() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        assert_eq!(secret.sign(ID, TIMESTAMP, BODY).unwrap(), SIGNATURE);
        let id = verify(&secret, &headers(SIGNATURE, TIMESTAMP), BODY, at(TIMESTAMP)).unwrap();
        assert_eq!(id, ID);
        // A rotated list: any one matching v1 signature is enough.
        let list = format!("v1,bm9wZQ== {SIGNATURE}");
        assert!(
            verify(
                &secret,
                &headers(&list, TIMESTAMP),
                BODY,
                at(TIMESTAMP + 299)
            )
            .is_ok()
        );
    }

    #[test]
    fn rejects_tampering_wrong_secrets_bad_signatures_and_stale_timestamps() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let other = WebhookSecret::random(&mut rand::rng());
        let now = at(TIMESTAMP);
        let truncated = &SIGNATURE[..SIGNATURE.len() - 4];
        let cases: Vec<Case<'_>> = vec![
            (
                &secret,
                headers(SIGNATURE, TIMESTAMP),
                br#"{"test": 2432232315}"#,
                now,
            ),
            (&other, headers(SIGNATURE, TIMESTAMP), BODY, now),
            (&secret, headers(truncated, TIMESTAMP), BODY, now),
            (&secret, headers("", TIMESTAMP), BODY, now),
            (&secret, headers("v2,abc", TIMESTAMP), BODY, now),
            (
                &secret,
                headers(SIGNATURE, TIMESTAMP),
                BODY,
                at(TIMESTAMP + 301),
            ),
            (
                &secret,
                headers(SIGNATURE, TIMESTAMP),
                BODY,
                at(TIMESTAMP - 301),
            ),
            (
                &secret,
                headers(SIGNATURE, TIMESTAMP)[1..].to_vec(),
                BODY,
                now,
            ),
        ];
        for (key, headers, body, now) in cases {
            let err = verify(key, &headers, body, now).unwrap_err();
            assert_eq!(err.code(), "webhook_signature_invalid");
        }
    }

    #[test]
    fn extreme_timestamps_are_refused_without_overflow() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        for (timestamp, now) in [
            (i64::MIN, at(TIMESTAMP)),
            (i64::MAX, at(TIMESTAMP)),
            (i64::MIN, Timestamp::from_micros(i64::MAX)),
            (i64::MAX, Timestamp::from_micros(i64::MIN)),
        ] {
            let headers = vec![
                ("webhook-id".to_owned(), ID.to_owned()),
                ("webhook-timestamp".to_owned(), timestamp.to_string()),
                ("webhook-signature".to_owned(), SIGNATURE.to_owned()),
            ];
            let err = verify(&secret, &headers, BODY, now).unwrap_err();
            assert_eq!(err.code(), "webhook_signature_invalid", "{timestamp}");
        }
    }

    /// Found by the fuzz target `webhook_signature`: a signature over `1614265330` was
    /// accepted with the header spelling it `+1614265330`.
    #[test]
    fn the_timestamp_is_signed_as_sent_and_only_digits_pass() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let with = |timestamp: &str| {
            vec![
                ("webhook-id".to_owned(), ID.to_owned()),
                ("webhook-timestamp".to_owned(), timestamp.to_owned()),
                ("webhook-signature".to_owned(), SIGNATURE.to_owned()),
            ]
        };
        assert!(verify(&secret, &with(" 1614265330 "), BODY, at(TIMESTAMP)).is_ok());
        for respelt in [
            "+1614265330",
            "01614265330",
            "1614265330.0",
            "1_614_265_330",
            "-0",
        ] {
            let err = verify(&secret, &with(respelt), BODY, at(TIMESTAMP)).unwrap_err();
            assert_eq!(err.code(), "webhook_signature_invalid", "{respelt}");
        }
    }

    #[test]
    fn secrets_round_trip_and_never_show() {
        let secret = WebhookSecret::random(&mut rand::rng());
        let text = secret.expose();
        assert!(text.starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(&text).unwrap(), secret);
        assert_eq!(format!("{secret:?}"), "WebhookSecret(…)");
        assert!(WebhookSecret::parse("whsec_short").is_err());
        assert!(WebhookSecret::parse("nope").is_err());
    }

    #[test]
    fn signs_its_own_deliveries_verifiably() {
        let secret = WebhookSecret::random(&mut rand::rng());
        let now = at(1_800_000_000);
        let headers = secret.headers("evt_1", now, b"{}").unwrap();
        assert_eq!(verify(&secret, &headers, b"{}", now).unwrap(), "evt_1");
    }
}
