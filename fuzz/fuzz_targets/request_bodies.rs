//! The JSON bodies of payment, refund and ledger-transaction requests, read by the engine's
//! one rule (`obol_core::request_body::json_object`, as the REST server reads them). Holds:
//! no panic, and a body that is read writes back to JSON that reads to the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obol_core::CreateTransaction;
use obol_core::payments::{CreatePayment, CreateRefund};
use obol_core::request_body::json_object;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn round_trips<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(request) = json_object::<T>(data) {
        let written = serde_json::to_vec(&request).expect("a request serializes");
        let again = json_object::<T>(&written);
        assert_eq!(again.as_ref(), Ok(&request), "{}", String::from_utf8_lossy(&written));
    }
}

fuzz_target!(|data: &[u8]| {
    round_trips::<CreatePayment>(data);
    round_trips::<CreateRefund>(data);
    round_trips::<CreateTransaction>(data);
});
