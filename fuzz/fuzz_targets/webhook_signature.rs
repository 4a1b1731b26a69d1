//! The Standard Webhooks verifier. The first byte holds flags; the rest is the `webhook-id`,
//! `webhook-timestamp` and `webhook-signature` values and the body, the first three ending at
//! a newline. With flag bit 0 the harness appends a correct `v1,` signature over the id,
//! timestamp and body as given (bit 1 flips one of its bits), so the checks around the MAC see
//! arbitrary ids, timestamps and signature lists.
//!
//! Holds: no panic, and the verifier accepts a delivery exactly when the reference does: all
//! three headers present, the timestamp Unix seconds in canonical digits within five minutes,
//! at most eight signatures, one of them `v1,` and base64 of
//! HMAC-SHA256(secret, "{id}.{timestamp}.{body}") over the (trimmed) header values as sent.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use obol_core::clock::Timestamp;
use obol_core::webhooks::signature::MAX_SIGNATURES;
use obol_core::webhooks::{WebhookSecret, verify};
use sha2::Sha256;

const NOW: i64 = 1_700_000_000;
/// The secret of the Standard Webhooks reference vector.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Debug)]
struct Delivery {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Delivery {
    fn read(data: &[u8]) -> Option<Delivery> {
        let (&flags, rest) = data.split_first()?;
        let mut parts = rest.splitn(4, |b| *b == b'\n');
        let mut value = || std::str::from_utf8(parts.next()?).ok().map(str::to_owned);
        let (id, timestamp, mut signatures) = (value()?, value()?, value()?);
        let body = parts.next().unwrap_or_default().to_vec();
        if flags & 1 != 0 {
            let mut tag = reference_mac(id.trim(), timestamp.trim(), &body);
            if flags & 2 != 0 {
                let at = usize::from(flags >> 3) % tag.len();
                tag[at] ^= 1;
            }
            signatures = format!("{signatures} v1,{}", BASE64.encode(tag));
        }
        let headers = vec![
            ("webhook-id".to_owned(), id),
            ("webhook-timestamp".to_owned(), timestamp),
            ("webhook-signature".to_owned(), signatures),
        ];
        Some(Delivery { headers, body })
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(delivery) = Delivery::read(data) else {
        return;
    };
    let secret = WebhookSecret::parse(SECRET).expect("the reference secret parses");
    let now = Timestamp::from_micros(NOW * 1_000_000);
    let accepted = verify(&secret, &delivery.headers, &delivery.body, now).is_ok();
    assert_eq!(accepted, reference_accepts(&delivery), "verifier and reference differ: {delivery:?}");
});

fn reference_mac(id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let key = BASE64
        .decode(SECRET.trim_start_matches("whsec_"))
        .expect("the secret is base64");
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

fn header<'a>(delivery: &'a Delivery, name: &str) -> Option<&'a str> {
    delivery
        .headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

fn reference_accepts(delivery: &Delivery) -> bool {
    let (Some(id), Some(timestamp), Some(signatures)) = (
        header(delivery, "webhook-id"),
        header(delivery, "webhook-timestamp"),
        header(delivery, "webhook-signature"),
    ) else {
        return false;
    };
    let canonical = timestamp.bytes().all(|b| b.is_ascii_digit())
        && (timestamp == "0" || !timestamp.starts_with('0'));
    let Some(seconds) = timestamp.parse::<i64>().ok().filter(|_| canonical) else {
        return false;
    };
    if (i128::from(seconds) - i128::from(NOW)).abs() > 300 {
        return false;
    }
    let entries: Vec<&str> = signatures.split(' ').collect();
    if entries.len() > MAX_SIGNATURES {
        return false;
    }
    let expected = format!("v1,{}", BASE64.encode(reference_mac(id, timestamp, &delivery.body)));
    entries.iter().any(|candidate| *candidate == expected)
}
