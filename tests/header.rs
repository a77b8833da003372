//! The committed include/ccwal.h must be what cbindgen makes of src/ffi
//! now. `make header` (CCWAL_UPDATE_HEADER=1) rewrites it.

use std::path::Path;

#[test]
fn committed_header_is_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let path = root.join("include/ccwal.h");
    if std::env::var_os("CCWAL_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write include/ccwal.h");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/ccwal.h is stale: regenerate it with `make header` \
         (or `CCWAL_UPDATE_HEADER=1 cargo test --test header`) and commit it"
    );
}
