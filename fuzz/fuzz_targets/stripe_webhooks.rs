//! Stripe's webhook deliveries: the `Stripe-Signature` verifier and the event reader. The
//! first byte holds flags; the rest is the header value and the body, the header ending at a
//! newline. With flag bit 0 the harness appends a correct `v1=` entry over the header's own
//! `t` value and the body (bit 1 flips one of its bits), so the checks after the MAC see
//! arbitrary timestamps, entry lists and bodies; bit 2 reads the event as a live endpoint.
//!
//! Holds: no panic, and the verifier accepts a delivery exactly when the reference does: a
//! header of at most 2048 bytes and 16 comma-separated `scheme=value` entries, exactly one
//! `t`, digits only (no sign or space) within five minutes of now, and a `v1` entry that is
//! the hex of HMAC-SHA256(secret, "{t}.{body}") over `t` as sent. The event reader never panics on any body, and reads
//! nothing from an event of the other mode.
#![no_main]

use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use obol_core::clock::Timestamp;
use obol_stripe::events::read_event;
use obol_stripe::webhook_signature::{StripeWebhookSecret, verify};
use sha2::Sha256;

const NOW: i64 = 1_700_000_000;
const SECRET: &str = "whsec_fuzz_0123456789abcdef";

#[derive(Debug)]
struct Delivery {
    header: String,
    body: Vec<u8>,
    live: bool,
}

impl Delivery {
    fn read(data: &[u8]) -> Option<Delivery> {
        let (&flags, rest) = data.split_first()?;
        let mut parts = rest.splitn(2, |b| *b == b'\n');
        let mut header = std::str::from_utf8(parts.next()?).ok()?.to_owned();
        let body = parts.next().unwrap_or_default().to_vec();
        if flags & 1 != 0 {
            let stamp = header
                .split(',')
                .filter_map(|entry| entry.trim().split_once('='))
                .find(|(scheme, _)| *scheme == "t")
                .map(|(_, value)| value.to_owned())
                .unwrap_or_default();
            let mut tag = reference_mac(&stamp, &body);
            if flags & 2 != 0 {
                let at = usize::from(flags >> 3) % tag.len();
                tag[at] ^= 1;
            }
            header = format!("{header},v1={}", hex(&tag));
        }
        Some(Delivery {
            header,
            body,
            live: flags & 4 != 0,
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(delivery) = Delivery::read(data) else {
        return;
    };
    let secret = StripeWebhookSecret::parse(SECRET).expect("the fuzz secret parses");
    let now = Timestamp::from_micros(NOW * 1_000_000);
    let accepted = verify(&secret, &delivery.header, &delivery.body, now).is_ok();
    assert_eq!(
        accepted,
        reference_accepts(&delivery),
        "verifier and reference differ: {delivery:?}"
    );
    // The reader runs on verified bodies only; it must hold on any body all the same, and an
    // event it reads for one mode is never read for the other.
    if let Ok(Some(_)) = read_event(&delivery.body, delivery.live) {
        assert!(
            !matches!(read_event(&delivery.body, !delivery.live), Ok(Some(_))),
            "an event read in both modes: {delivery:?}"
        );
    }
});

fn reference_mac(timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).expect("any key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn reference_accepts(delivery: &Delivery) -> bool {
    let header = &delivery.header;
    if header.len() > 2048 || header.split(',').count() > 16 {
        return false;
    }
    let mut stamps = Vec::new();
    let mut signatures = Vec::new();
    for entry in header.split(',') {
        let Some((scheme, value)) = entry.trim().split_once('=') else {
            return false;
        };
        match scheme {
            "t" => stamps.push(value),
            "v1" => signatures.push(value),
            _ => {}
        }
    }
    let [stamp] = stamps[..] else {
        return false;
    };
    if stamp.is_empty() || !stamp.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(seconds) = stamp.parse::<i64>() else {
        return false;
    };
    if NOW.abs_diff(seconds) > 300 {
        return false;
    }
    let expected = hex(&reference_mac(stamp, &delivery.body));
    // Hex is case-insensitive when decoded.
    signatures
        .iter()
        .any(|candidate| candidate.to_ascii_lowercase() == expected)
}
