//! Gives the shared library its SONAME, `libccwal.so.<major>`, so programs
//! linked against it depend on the major version only (`make install`
//! installs `libccwal.so.<version>` with the links `libccwal.so.<major>` and
//! `libccwal.so`). The version comes from Cargo.toml, its one place.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" || target_os == "freebsd" || target_os == "netbsd" {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("set by cargo");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libccwal.so.{major}");
    }
}
