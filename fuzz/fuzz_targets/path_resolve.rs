//! Path resolution: whatever the target, the result lies under the root.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// A small tree with a file outside the root and a symlink to it.
fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("netlab-fuzz-{}", std::process::id()));
        let root = base.join("root");
        let _ = std::fs::create_dir_all(root.join("docs"));
        let _ = std::fs::write(root.join("index.html"), "in");
        let _ = std::fs::write(root.join(".env"), "hidden");
        let _ = std::fs::write(base.join("secret"), "out");
        #[cfg(unix)]
        let _ = std::os::unix::fs::symlink(base.join("secret"), root.join("link"));
        root.canonicalize().expect("fuzz root")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(target) = std::str::from_utf8(data) else { return };
    let root = root();
    if let Ok(r) = http_server::path::resolve(root, target) {
        assert!(r.path.starts_with(root), "{target:?} escaped to {:?}", r.path);
        assert!(r.url_path.starts_with('/') && !r.url_path.starts_with("//"));
        assert!(!r.path.ends_with(".env") && !r.path.ends_with("secret"));
    }
});
