//! examples/efs_sim.rs, the FUSE passthrough that gives the benchmark's and
//! the end-to-end tests' EFS tier EFS's costs: it serves its folder
//! unchanged and read-only, every open takes the latency, reads are paced to
//! the throughput, the kernel caches what an NFS client caches but each
//! mount starts cold, and it unmounts on signals and after a crash.
//!
//! Needs /dev/fuse and root (as CI has): fails, never skips, without them.

mod support;

use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::efs_sim::{is_mounted, EfsMount};

/// A folder with nested packages, an executable, a symlink, an empty folder
/// and a 4 MB file.
fn source_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    support::write_file(root, "pkg/__init__.py", "X = 1\n");
    support::write_file(root, "pkg/sub/mod.py", "def f():\n    return 2\n");
    support::write_file(root, "pkg/sub/__pycache__/mod.cpython-311.pyc", [7u8; 300]);
    support::write_file(root, "bin/tool", "#!/bin/sh\necho hi\n");
    std::fs::set_permissions(
        root.join("bin/tool"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let big: Vec<u8> = (0..4_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    support::write_file(root, "data/big.bin", big);
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::os::unix::fs::symlink("pkg/__init__.py", root.join("link.py")).unwrap();
    dir
}

/// Every entry below `root`, sorted: (relative path, kind, size, mode, the
/// symlink target or the file's bytes).
fn snapshot(root: &Path) -> Vec<(PathBuf, String, u64, u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let (kind, body) = if meta.is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                ("symlink", target.into_os_string().into_encoded_bytes())
            } else if meta.is_dir() {
                stack.push(path.clone());
                ("dir", Vec::new())
            } else {
                ("file", std::fs::read(&path).unwrap())
            };
            let size = if meta.is_dir() { 0 } else { meta.size() };
            out.push((rel, kind.to_string(), size, meta.mode(), body));
        }
    }
    out.sort();
    out
}

#[test]
fn serves_the_folder_unchanged_and_read_only() {
    let source = source_tree();
    let mount = EfsMount::new(source.path(), 0.0, 0.0);
    let (served, original) = (snapshot(mount.path()), snapshot(source.path()));
    assert_eq!(served.len(), original.len());
    for (s, o) in served.iter().zip(&original) {
        assert_eq!((&s.0, &s.1, s.2, s.3), (&o.0, &o.1, o.2, o.3));
        assert!(s.4 == o.4, "{} differs", s.0.display());
    }
    let root = mount.path();
    assert_eq!(
        std::fs::read_to_string(root.join("link.py")).unwrap(),
        "X = 1\n"
    );
    let read_only = |what: &str, result: std::io::Result<()>| {
        let err = result.expect_err(what);
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{what}: {err}");
    };
    read_only(
        "create",
        std::fs::write(root.join("new.txt"), "x").map(|_| ()),
    );
    read_only(
        "open for writing",
        std::fs::OpenOptions::new()
            .append(true)
            .open(root.join("pkg/__init__.py"))
            .map(|_| ()),
    );
    read_only("mkdir", std::fs::create_dir(root.join("newdir")));
    read_only("unlink", std::fs::remove_file(root.join("pkg/__init__.py")));
    read_only(
        "chmod",
        std::fs::set_permissions(
            root.join("bin/tool"),
            std::fs::Permissions::from_mode(0o777),
        ),
    );
    let mountpoint = root.to_path_buf();
    mount.stop();
    assert!(!is_mounted(&mountpoint), "still mounted after stop");
    assert_eq!(snapshot(source.path()), original, "the source changed");
}

#[test]
fn every_open_costs_the_latency() {
    let source = source_tree();
    let latency = 3.0;
    let mount = EfsMount::new(source.path(), latency, 0.0);
    let file = mount.path().join("pkg/sub/mod.py");
    std::fs::metadata(&file).unwrap();
    let n = 40;
    let start = Instant::now();
    for _ in 0..n {
        drop(std::fs::File::open(&file).unwrap());
    }
    let elapsed = start.elapsed();
    let stats = mount.stop();
    assert!(
        elapsed >= Duration::from_secs_f64(n as f64 * latency / 1e3),
        "{n} opens took {elapsed:?}, less than {n} x {latency} ms"
    );
    assert_eq!(stats["open"], n, "{stats}");
}

#[test]
fn reads_are_paced_to_the_throughput() {
    let source = source_tree();
    let (throughput, bytes) = (100.0, 4_000_000u64);
    let mount = EfsMount::new(source.path(), 0.0, throughput);
    let file = mount.path().join("data/big.bin");
    let start = Instant::now();
    let data = std::fs::read(&file).unwrap();
    let elapsed = start.elapsed();
    assert_eq!(data.len() as u64, bytes);
    assert!(
        elapsed >= Duration::from_secs_f64(bytes as f64 / (throughput * 1e6)),
        "{bytes} bytes read in {elapsed:?} at {throughput} MB/s"
    );
    // Read again while mounted: the pages stay cached, nothing more crosses.
    assert_eq!(std::fs::read(&file).unwrap(), data);
    let stats = mount.stop();
    assert_eq!(stats["read_bytes"], bytes, "{stats}");
}

/// Within a mount the kernel keeps entries, attributes and "no such file"
/// (as an NFS client does); a new mount knows nothing.
#[test]
fn each_mount_starts_cold() {
    let source = source_tree();
    let lookups = |stats: &serde_json::Value| {
        (
            stats["lookup"].as_u64().unwrap(),
            stats["lookup_missing"].as_u64().unwrap(),
        )
    };
    let probe = |root: &Path| {
        for _ in 0..5 {
            std::fs::metadata(root.join("pkg/sub/mod.py")).unwrap();
            let missing = std::fs::metadata(root.join("pkg/missing.py")).unwrap_err();
            assert_eq!(missing.kind(), ErrorKind::NotFound);
        }
    };
    let first = EfsMount::new(source.path(), 0.0, 0.0);
    probe(first.path());
    // pkg, sub, mod.py and missing.py: once each.
    assert_eq!(lookups(&first.stop()), (4, 1));
    let second = EfsMount::new(source.path(), 0.0, 0.0);
    probe(second.path());
    assert_eq!(lookups(&second.stop()), (4, 1));
}

#[test]
fn unmounts_on_signals_and_after_a_crash() {
    let source = source_tree();
    let dir = tempfile::tempdir().unwrap();
    let mountpoint = dir.path().canonicalize().unwrap();
    let signal = |mount: &EfsMount, signal: i32| {
        // SAFETY: signalling a child process by its id.
        assert_eq!(unsafe { libc::kill(mount.pid() as i32, signal) }, 0);
    };
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        let mount = EfsMount::start(source.path(), &mountpoint, &[]);
        assert!(is_mounted(&mountpoint));
        signal(&mount, sig);
        mount.stop();
        assert!(!is_mounted(&mountpoint), "still mounted after signal {sig}");
    }
    // A killed instance leaves a dead mount; the next one detaches it.
    let killed = EfsMount::start(source.path(), &mountpoint, &[]);
    signal(&killed, libc::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    let dead = loop {
        match std::fs::metadata(&mountpoint) {
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => break true,
            _ if Instant::now() > deadline => break false,
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    assert!(dead, "no dead mount after SIGKILL");
    drop(killed);
    let next = EfsMount::start(source.path(), &mountpoint, &[]);
    assert_eq!(
        std::fs::read_to_string(mountpoint.join("pkg/__init__.py")).unwrap(),
        "X = 1\n"
    );
    next.stop();
    assert!(!is_mounted(&mountpoint));
}
