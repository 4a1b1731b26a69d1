//! Compiles `proto/` into the gRPC types and services (pure Rust: protox parses the
//! protos, so no `protoc` is needed) and writes the descriptor set reflection serves.

use std::path::PathBuf;

use prost::Message;

#[allow(clippy::print_stdout)] // cargo reads build-script instructions from stdout
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/obol/v1/obol.proto"];
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(protos, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("obol_descriptor.bin"), descriptors.encode_to_vec())?;
    // Messages that may carry a secret (a password, token, API key or webhook secret, in a
    // JSON value or a field of its own) get a Debug that shows none of it
    // (`src/grpc/redacted.rs`) instead of prost's, which prints every field.
    tonic_prost_build::configure()
        .skip_debug([
            ".obol.v1.Value",
            ".obol.v1.Values",
            ".obol.v1.AuthenticateRequest",
            ".obol.v1.RefreshTokenRequest",
            // A provider webhook's headers are forwarded as received (a caller may send any).
            ".obol.v1.Header",
        ])
        .compile_fds(descriptors)?;
    Ok(())
}
