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
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
