//! The Standard Webhooks verifier on arbitrary headers and bodies. The input is the
//! `webhook-id`, `webhook-timestamp` and `webhook-signature` values and the body, the first
//! three ending at a newline. Holds: no panic, and a delivery is accepted only if the
//! reference check accepts it: all three headers present, the timestamp within five minutes,
//! and one `v1,` signature that is base64 of HMAC-SHA256(secret, "{id}.{timestamp}.{body}")
//! over the header values as sent.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use obol_core::clock::Timestamp;
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
        let mut parts = data.splitn(4, |b| *b == b'\n');
        let mut value = || std::str::from_utf8(parts.next()?).ok().map(str::to_owned);
        let headers = vec![
            ("webhook-id".to_owned(), value()?),
            ("webhook-timestamp".to_owned(), value()?),
            ("webhook-signature".to_owned(), value()?),
        ];
        let body = parts.next().unwrap_or_default().to_vec();
        Some(Delivery { headers, body })
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(delivery) = Delivery::read(data) else {
        return;
    };
    let secret = WebhookSecret::parse(SECRET).expect("the reference secret parses");
    let now = Timestamp::from_micros(NOW * 1_000_000);
    if verify(&secret, &delivery.headers, &delivery.body, now).is_ok() {
        assert!(
            reference_accepts(&delivery),
            "accepted a delivery the reference refuses: {delivery:?}"
        );
    }
});

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
    let Ok(seconds) = timestamp.parse::<i64>() else {
        return false;
    };
    if (i128::from(seconds) - i128::from(NOW)).abs() > 300 {
        return false;
    }
    let key = BASE64
        .decode(SECRET.trim_start_matches("whsec_"))
        .expect("the secret is base64");
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&delivery.body);
    let expected = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
    signatures.split(' ').any(|candidate| candidate == expected)
}
