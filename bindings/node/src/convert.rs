//! Conversions at the edge: strings to amounts and typed ids, engine results to Promises.

use std::collections::HashMap;
use std::future::Future;
use std::str::FromStr;

use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};
use napi::{Env, JsError};
use obol::{Error, Metadata, Timestamp};

/// Runs `work` on napi-rs's Tokio runtime as a Promise. A failure rejects with an `Error`
/// whose `code` is the engine's stable code: napi-rs's async functions only reject with
/// their own status codes, so the error is made on the JavaScript thread once `work` ends.
pub(crate) fn promise<'env, T, F>(env: &'env Env, work: F) -> napi::Result<PromiseRaw<'env, T>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = obol::Result<T>> + Send + 'static,
{
    env.spawn_future_with_callback(async move { Ok(work.await) }, |env, outcome| {
        outcome
            .map_err(|error| napi::Error::from(JsError::from(sync_error(error)).into_unknown(*env)))
    })
}

/// The engine's error for a synchronous method: `code` is the stable code.
pub(crate) fn sync_error(error: Error) -> napi::Error<String> {
    napi::Error::new(error.code().to_owned(), error.to_string())
}

/// An amount in minor units from its decimal string (`"1250"`).
pub(crate) use obol::money::parse_integer_amount as amount;

/// A typed id, its prefix checked.
pub(crate) fn id<T: FromStr<Err = Error>>(text: &str) -> obol::Result<T> {
    text.parse()
}

/// An engine time as milliseconds since 1970 (what `new Date(ms)` takes).
pub(crate) fn millis(at: Timestamp) -> i64 {
    at.as_millis()
}

/// Metadata from a JS object of strings.
pub(crate) fn metadata(map: Option<HashMap<String, String>>) -> Metadata {
    map.unwrap_or_default().into_iter().collect()
}

/// Metadata for JS.
pub(crate) fn metadata_out(metadata: Metadata) -> HashMap<String, String> {
    metadata.into_iter().collect()
}
