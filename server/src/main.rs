//! The `obol` binary.

/// mimalloc instead of the system allocator: a request allocates and frees many small
/// buffers on several threads, where glibc's malloc spent a third of the server's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    obol_server::cli::run().await
}
