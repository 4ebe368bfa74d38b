//! `-o FILE` as curl writes it: through symlinks, into FIFOs and devices,
//! keeping modes, owners and hard links, never leaving a temporary file.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use http_client::client::Quiet;
use http_client::{Client, Request, Url, save};
use testkit::Run;

use crate::{BIN, RawServer, read_request};

const FRESH: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh";

fn fresh() -> RawServer {
    RawServer::once(FRESH)
}

fn get_to(server: &RawServer, target: &Path) -> Run {
    Run::new(
        BIN,
        &["-s", &server.url("/f"), "-o", target.to_str().unwrap()],
        b"",
    )
}

/// Names of the files in `dir` that look like a download's temporary.
fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".part"))
        .collect()
}

#[test]
fn a_new_file_gets_0666_less_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("new");
    let s = fresh();
    let r = Run::new(
        "sh",
        &[
            "-c",
            "umask 077; exec \"$0\" \"$@\"",
            BIN,
            "-s",
            &s.url("/f"),
            "-o",
            target.to_str().unwrap(),
        ],
        b"",
    );
    r.assert_success();
    assert_eq!(fs::read(&target).unwrap(), b"fresh");
    let mode = fs::metadata(&target).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o600, "{mode:o}");
    let r = Run::new(
        "sh",
        &[
            "-c",
            "umask 022; exec \"$0\" \"$@\"",
            BIN,
            "-s",
            &s.url("/f"),
            "-o",
            dir.path().join("open").to_str().unwrap(),
        ],
        b"",
    );
    r.assert_success();
    let mode = fs::metadata(dir.path().join("open")).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o644, "{mode:o}");
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn an_existing_file_keeps_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("private");
    fs::write(&target, "old").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
    get_to(&fresh(), &target).assert_success();
    assert_eq!(fs::read(&target).unwrap(), b"fresh");
    assert_eq!(fs::metadata(&target).unwrap().mode() & 0o7777, 0o600);
    fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).unwrap();
    get_to(&fresh(), &target).assert_success();
    assert_eq!(fs::metadata(&target).unwrap().mode() & 0o7777, 0o640);
}

#[test]
fn a_hard_linked_file_stays_linked() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("one");
    fs::write(&target, "old old old").unwrap();
    fs::hard_link(&target, dir.path().join("two")).unwrap();
    let ino = fs::metadata(&target).unwrap().ino();
    get_to(&fresh(), &target).assert_success();
    assert_eq!(fs::read(dir.path().join("two")).unwrap(), b"fresh");
    let m = fs::metadata(&target).unwrap();
    assert_eq!((m.ino(), m.nlink()), (ino, 2));
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn a_symlink_is_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    fs::write(&real, "old").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink("real", &link).unwrap();
    get_to(&fresh(), &link).assert_success();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read(&real).unwrap(), b"fresh");
    // A dangling link creates the file it names, as open(2) would.
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink("made", &dangling).unwrap();
    get_to(&fresh(), &dangling).assert_success();
    assert_eq!(fs::read(dir.path().join("made")).unwrap(), b"fresh");
    assert!(
        fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn a_fifo_is_written_into() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        testkit::skip("mkfifo is not available");
        return;
    }
    // The reader opens first and reads to end of file: the client's close.
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read(fifo).unwrap())
    };
    get_to(&fresh(), &fifo).assert_success();
    assert_eq!(reader.join().unwrap(), b"fresh");
    assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
#[ignore = "needs root"]
fn a_character_device_stays_a_device() {
    // Only inside a private mount namespace over a private tmpfs: a real
    // device node is never the target of a test.
    testkit::need_root("a private mount namespace");
    let s = fresh();
    let script = format!(
        "mount -t tmpfs netlab-test /mnt && mknod -m 666 /mnt/null c 1 3 \
         && {BIN} -s {} -o /mnt/null && stat -c %F /mnt/null",
        s.url("/f")
    );
    let r = Run::new("unshare", &["-m", "sh", "-c", &script], b"");
    r.assert_success();
    assert_eq!(r.stdout_text().trim(), "character special file", "{r}");
}

#[test]
fn an_error_response_replaces_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("good");
    fs::write(&target, "good").unwrap();
    let s = RawServer::once(b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\ngone");
    get_to(&s, &target).assert_code(22);
    assert_eq!(fs::read(&target).unwrap(), b"good");
    let missing = dir.path().join("missing");
    get_to(&s, &missing).assert_code(22);
    assert!(!missing.exists());
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn a_broken_download_replaces_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("good");
    fs::write(&target, "good").unwrap();
    let s = RawServer::once(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
    get_to(&s, &target).assert_code(18);
    assert_eq!(fs::read(&target).unwrap(), b"good");
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn dash_is_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let s = fresh();
    let r = Command::new(BIN)
        .args(["-s", &s.url("/f"), "-o", "-"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(r.status.success());
    assert_eq!(r.stdout, b"fresh");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn the_library_saves_as_the_binary_does() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("lib");
    fs::write(&target, "old").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o604)).unwrap();
    let s = fresh();
    let url = Url::parse(&s.url("/f")).unwrap();
    let done = save::to_file(
        &mut Client::new(),
        &Request::new(url),
        &target,
        &mut Quiet,
        false,
    )
    .unwrap();
    assert_eq!(done.head.status, 200);
    assert_eq!(fs::read(&target).unwrap(), b"fresh");
    assert_eq!(fs::metadata(&target).unwrap().mode() & 0o7777, 0o604);
}

/// A server that sends a head and then a trickle, forever.
fn trickle() -> RawServer {
    RawServer::start(|s, _, _| {
        if read_request(s).is_some() {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n");
            while s.write_all(&[b'x'; 100]).is_ok() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    })
}

#[test]
fn signals_remove_the_temporary_file() {
    // A signal this test inherited as ignored is ignored by the client
    // too, as by curl: that case is checked below instead.
    let ignored = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let mask = s.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
            u64::from_str_radix(mask.trim(), 16).ok()
        })
        .unwrap_or(0);
    for (signal, number) in [("INT", 2), ("TERM", 15), ("HUP", 1)] {
        if ignored & (1 << (number - 1)) != 0 {
            testkit::skip(format_args!("SIG{signal} is ignored by this test process"));
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("slow");
        let s = trickle();
        let mut child = Command::new(BIN)
            .args(["-s", &s.url("/f"), "-o", target.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while leftovers(dir.path()).is_empty() {
            assert!(Instant::now() < deadline, "no temporary file appeared");
            std::thread::sleep(Duration::from_millis(10));
        }
        let killed = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = wait_bounded(&mut child);
        assert_eq!(status.signal(), Some(number), "SIG{signal}: {status}");
        assert!(leftovers(dir.path()).is_empty(), "SIG{signal}");
        assert!(!target.exists());
    }
}

#[test]
#[ignore = "needs root"]
fn an_existing_file_keeps_its_owner() {
    testkit::need_root("giving a file to another user");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("theirs");
    fs::write(&target, "old").unwrap();
    std::os::unix::fs::chown(&target, Some(65534), Some(65534)).unwrap();
    get_to(&fresh(), &target).assert_success();
    assert_eq!(fs::read(&target).unwrap(), b"fresh");
    let m = fs::metadata(&target).unwrap();
    assert_eq!((m.uid(), m.gid()), (65534, 65534));
}

#[test]
fn a_file_that_may_not_be_written_stays() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("locked");
    fs::write(&target, "old").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o444)).unwrap();
    // Root may write anything: run as nobody where possible.
    let r = if testkit::is_root() {
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let s = fresh();
        let cmd = format!("{BIN} -s {} -o {}", s.url("/f"), target.display());
        let r = Run::new(
            "setpriv",
            &[
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "sh",
                "-c",
                &cmd,
            ],
            b"",
        );
        assert!(
            !r.stderr_text().contains("setpriv"),
            "setpriv cannot drop privileges as root: {r}"
        );
        r
    } else {
        get_to(&fresh(), &target)
    };
    r.assert_code(23);
    assert!(r.stderr_text().contains("locked"), "{r}");
    assert_eq!(fs::read(&target).unwrap(), b"old");
    assert!(leftovers(dir.path()).is_empty());
}

/// Waits for `child`, killing it (and failing) after 10 s.
fn wait_bounded(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the client did not end within 10 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn an_ignored_signal_stays_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("slow");
    let s = trickle();
    // `nohup` starts the client with SIGHUP ignored.
    let Ok(mut child) = Command::new("nohup")
        .args([BIN, "-s", &s.url("/f"), "-o", target.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        testkit::skip("nohup is not available");
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while leftovers(dir.path()).is_empty() {
        assert!(Instant::now() < deadline, "no temporary file appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    // Still downloading after SIGHUP: a TERM sent after it must be what
    // ends the client.
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = wait_bounded(&mut child);
    assert_eq!(status.signal(), Some(15), "{status}");
    assert!(leftovers(dir.path()).is_empty());
}

/// Runs the client as `nobody` (root may create files anywhere, so only
/// an unprivileged user meets a directory it cannot write).
fn as_nobody(args: &[&str]) -> Run {
    if !testkit::is_root() {
        return Run::new(BIN, args, b"");
    }
    let mut all = vec![
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--",
        BIN,
    ];
    all.extend_from_slice(args);
    let r = Run::new("setpriv", &all, b"");
    assert!(
        !r.stderr_text().contains("setpriv"),
        "setpriv cannot drop privileges as root: {r}"
    );
    r
}

/// A temporary directory nobody but root may write, opened again on drop
/// so that it can be removed.
struct LockedDir(tempfile::TempDir);

impl LockedDir {
    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for LockedDir {
    fn drop(&mut self) {
        let _ = fs::set_permissions(self.0.path(), fs::Permissions::from_mode(0o755));
    }
}

/// A file the unprivileged user may write, in a directory it may not.
fn writable_file_in_locked_dir(content: &str) -> (LockedDir, std::path::PathBuf) {
    let dir = LockedDir(tempfile::tempdir().unwrap());
    let target = dir.path().join("open-file");
    fs::write(&target, content).unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o666)).unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o555)).unwrap();
    if !testkit::is_root() {
        // The owner may still write the directory through its own bits.
        assert!(
            fs::File::create(dir.path().join("probe")).is_err(),
            "the directory is writable"
        );
    }
    (dir, target)
}

#[test]
fn a_writable_file_in_a_locked_directory_is_written_in_place() {
    let (dir, target) = writable_file_in_locked_dir("old contents, longer than the new");
    let s = fresh();
    let url = s.url("/f");
    let r = as_nobody(&["-s", &url, "-o", target.to_str().unwrap()]);
    r.assert_success();
    assert_eq!(fs::read(&target).unwrap(), b"fresh");
    assert_eq!(fs::metadata(&target).unwrap().mode() & 0o7777, 0o666);
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn a_broken_download_in_place_keeps_what_arrived_and_says_so() {
    let (dir, target) = writable_file_in_locked_dir("old contents");
    let s = RawServer::once(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
    let url = s.url("/f");
    let r = as_nobody(&["-s", &url, "-o", target.to_str().unwrap()]);
    r.assert_code(18);
    // Written in place, as curl always does: the old contents are gone and
    // the file holds exactly what arrived, which the user is told.
    assert_eq!(fs::read(&target).unwrap(), b"short");
    assert!(
        r.stderr_text()
            .contains("holds only the first 5 bytes of the body"),
        "{r}"
    );
    assert!(leftovers(dir.path()).is_empty());
}
