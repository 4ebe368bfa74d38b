//! Directory listings: names escaped and sorted, sizes shown, hidden
//! entries left out.

use std::fs;
use std::io;
use std::path::Path;

use crate::path::encode;
use crate::status::Status;

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    net_core::text::escape_markup(s)
}

/// A size for people: `512 B`, `1.5 KiB`, `10.0 MiB`.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut size = n as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

/// The HTML listing of `dir`, whose URL path is `url_path` (ending in `/`),
/// under the canonical `root`. An entry is listed only if a request for it
/// would be served: not hidden, and resolving (through symlinks) inside the
/// root — so a listing never shows a link it would answer 403 or 404 for,
/// nor the size of a file outside the root.
pub fn render(root: &Path, dir: &Path, url_path: &str) -> io::Result<String> {
    let mut entries: Vec<(String, bool, u64)> = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue; // not UTF-8: no URL can name it
        };
        if name.starts_with('.') {
            continue;
        }
        // Resolved as a request for it would be: symlinks followed, and
        // the result must stay inside the root.
        let target = format!("{}{}", encode(url_path), encode(&name));
        let resolved = match crate::path::resolve(root, &target) {
            Ok(resolved) => resolved,
            // A listing missing entries for want of descriptors would be
            // a wrong answer: the whole listing fails instead (503).
            Err(refusal) if refusal.status == Status::SERVICE_UNAVAILABLE => {
                return Err(io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    crate::path::RESOURCES_EXHAUSTED,
                ));
            }
            Err(_) => continue,
        };
        let meta = match fs::metadata(&resolved.path) {
            Ok(meta) => meta,
            Err(e) if net_core::error::is_resource_exhausted(&e) => return Err(e),
            Err(_) => continue,
        };
        // FIFOs, sockets and devices are never served, so never listed.
        if !meta.is_file() && !meta.is_dir() {
            continue;
        }
        entries.push((name, meta.is_dir(), meta.len()));
    }
    entries.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

    let title = format!("Index of {}", escape_html(url_path));
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body><h1>{title}</h1>\n<table>\n<tr><th>Name</th><th>Size</th></tr>\n"
    );
    if url_path != "/" {
        html.push_str("<tr><td><a href=\"../\">../</a></td><td></td></tr>\n");
    }
    for (name, is_dir, len) in entries {
        let slash = if is_dir { "/" } else { "" };
        // "./" keeps a name like "a:b" from reading as a URL scheme.
        let href = format!("./{}{slash}", encode(&name));
        let size = if is_dir {
            "-".to_string()
        } else {
            human_size(len)
        };
        html.push_str(&format!(
            "<tr><td><a href=\"{}\">{}{slash}</a></td><td>{size}</td></tr>\n",
            escape_html(&href),
            escape_html(&name)
        ));
    }
    html.push_str("</table>\n</body></html>\n");
    Ok(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_sorted_escaped_without_hidden() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("b.txt"), "12345").unwrap();
        fs::write(dir.path().join("<script>.html"), "").unwrap();
        fs::write(dir.path().join("a b#?.txt"), "").unwrap();
        fs::write(dir.path().join(".secret"), "").unwrap();
        fs::create_dir(dir.path().join("zdir")).unwrap();
        let root = dir.path().canonicalize().unwrap();
        let html = render(&root, &root, "/").unwrap();
        assert!(html.contains("<title>Index of /</title>"));
        assert!(!html.contains(".secret"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;.html"));
        assert!(html.contains("href=\"./a%20b%23%3F.txt\""));
        assert!(html.contains("<td>5 B</td>"));
        let z = html.find("zdir/").unwrap();
        let a = html.find("a b#?.txt").unwrap();
        let b = html.find("b.txt").unwrap();
        assert!(z < a && a < b, "directories first, then names in order");
    }

    #[cfg(unix)]
    #[test]
    fn leaves_out_what_a_request_would_refuse() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "12345678").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        fs::write(root.join("inside.txt"), "1").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.join("out.txt"))
            .unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("outdir")).unwrap();
        std::os::unix::fs::symlink(root.join("inside.txt"), root.join("alias.txt")).unwrap();
        std::os::unix::fs::symlink(root.join("missing"), root.join("dangling")).unwrap();
        let html = render(&root, &root, "/").unwrap();
        assert!(html.contains("inside.txt") && html.contains("alias.txt"));
        assert!(!html.contains("out.txt"), "{html}");
        assert!(!html.contains("outdir"));
        assert!(!html.contains("dangling"));
        assert!(!html.contains("8 B"), "the outside file's size leaked");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(10 * 1024 * 1024), "10.0 MiB");
    }
}
