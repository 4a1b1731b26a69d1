//! Amount and id parsers on arbitrary text. Holds: no panic; an amount that parses formats
//! and parses back to the same minor units at every scale; the JSON amount form writes what it
//! read so that it reads back the same; an id that parses prints as it was given and parses
//! again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obol_core::id::{
    AccountId, ApiKeyId, CustomerId, DisputeId, EndpointId, EventId, MerchantId, PaymentId,
    PaymentMethodId, RefundId, SessionId, TransactionId, UserId,
};
use obol_core::money::{Asset, parse_integer_amount};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Amount {
    #[serde(with = "obol_core::money::MinorUnits")]
    amount: i128,
}

macro_rules! round_trips {
    ($text:expr, $($id:ty),*) => {$(
        if let Ok(id) = <$id>::parse($text) {
            assert_eq!(id.as_str(), $text, "an id prints as given");
            assert_eq!(<$id>::parse(id.as_str()).ok(), Some(id.clone()));
            assert_eq!(id.to_string(), $text);
        }
    )*};
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(minor) = parse_integer_amount(text) {
        assert_eq!(parse_integer_amount(&minor.to_string()).ok(), Some(minor));
    }
    for (code, scale) in [("JPY", 0), ("USD", 2), ("BTC", 8), ("ETH", 18), ("MAX", 36)] {
        let asset = Asset::new(code, scale).expect("a valid asset");
        if let Ok(minor) = asset.parse_amount(text) {
            let shown = asset.format_amount(minor);
            assert_eq!(asset.parse_amount(&shown).ok(), Some(minor), "{text:?} → {shown:?}");
        }
    }
    let json = serde_json::to_string(&serde_json::json!({ "amount": text })).expect("a string");
    if let Ok(read) = serde_json::from_str::<Amount>(&json) {
        let written = serde_json::to_string(&read).expect("an amount serializes");
        let again: Amount = serde_json::from_str(&written).expect("what is written reads back");
        assert_eq!(again, read, "{json} → {written}");
    }
    round_trips!(
        text, AccountId, TransactionId, PaymentId, RefundId, MerchantId, ApiKeyId, SessionId,
        UserId, DisputeId, CustomerId, PaymentMethodId, EndpointId, EventId
    );
});
