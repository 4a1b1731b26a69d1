//! `cargo run -p uniffi-bindgen -- generate --library <libobol_ffi.so> --language python
//! --out-dir bindings/ffi/python`: the generator of the exact UniFFI version the library uses.

fn main() {
    uniffi::uniffi_bindgen_main()
}
