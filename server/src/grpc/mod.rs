//! gRPC: the internal services of a split deployment. [`server`] exposes the engine's
//! services over tonic; [`client`] implements the same service traits by calling them, so the
//! REST gateway's handlers run unchanged over either.

pub mod client;
pub mod codec;
mod redacted;
pub mod serve;
pub mod server;
pub mod tls;
pub mod trust;

/// The generated protobuf types and tonic services.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("obol.v1");
}

/// The descriptor set of `proto/`, served by reflection.
pub const DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/obol_descriptor.bin"));
