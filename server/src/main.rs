//! The `obol` binary.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    obol_server::cli::run().await
}
