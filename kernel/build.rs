//! Links the guest against the Hermit kernel archive the xtask built for the board
//! (`HERMIT_WASM_LIBHERMIT_DIR`); host builds link nothing extra.

fn main() {
    println!("cargo:rerun-if-env-changed=HERMIT_WASM_LIBHERMIT_DIR");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("hermit") {
        return;
    }
    let Ok(dir) = std::env::var("HERMIT_WASM_LIBHERMIT_DIR") else {
        panic!(
            "HERMIT_WASM_LIBHERMIT_DIR is not set: the guest is built by the xtask \
             (cargo xtask image --board <board>), which builds the kernel first"
        );
    };
    println!("cargo:rustc-link-search=native={dir}");
    println!("cargo:rustc-link-lib=static=hermit");
    println!("cargo:rerun-if-changed={dir}/libhermit.a");
}
