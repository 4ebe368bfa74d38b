use crate::{get, raw, site};

#[test]
fn traversal_over_the_wire() {
    let s = site(&[]);
    let parent = s.root.path().parent().unwrap();
    let secret = parent.join(format!(
        "{}-secret.txt",
        s.root.path().file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&secret, "TOP SECRET").unwrap();
    let name = secret.file_name().unwrap().to_string_lossy().to_string();
    for target in [
        format!("/../{name}"),
        format!("/%2e%2e/{name}"),
        format!("/%2e%2e%2f{name}"),
        format!("/docs/..%2f..%2f{name}"),
        format!("/..%5c{name}"),
        format!("/%252e%252e/{name}"),
        format!("http://t/../{name}"),
        "/.env".to_string(),
        "/notes.txt%00.html".to_string(),
    ] {
        let r = get(s.addr(), &target);
        assert!(r.status >= 400, "{target} → {}", r.status);
        assert!(
            !r.text().contains("TOP SECRET") && !r.text().contains("SECRET=1"),
            "{target}"
        );
    }
    std::fs::remove_file(secret).unwrap();
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_root_are_refused() {
    let s = site(&[]);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("passwd"), "root:x:0:0").unwrap();
    std::os::unix::fs::symlink(outside.path().join("passwd"), s.root.path().join("link")).unwrap();
    std::os::unix::fs::symlink(outside.path(), s.root.path().join("dirlink")).unwrap();
    assert_eq!(get(s.addr(), "/link").status, 403);
    assert_eq!(get(s.addr(), "/dirlink/passwd").status, 403);
}

#[test]
fn redirects_never_leave_the_site() {
    let s = site(&[]);
    std::fs::create_dir_all(s.root.path().join("evil.example/x")).unwrap();
    let r = raw(
        s.addr(),
        b"GET //evil.example/x HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(r.status, 301);
    let location = r.header("location").unwrap();
    assert_eq!(location, "/evil.example/x/");
    assert!(!location.starts_with("//"));
}
