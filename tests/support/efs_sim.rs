//! Mounts of examples/efs_sim.rs (a folder served read-only through FUSE
//! with EFS's per-operation latency and read throughput) for tests that run
//! an EFS tier. The tests fail, never skip, when FUSE cannot be mounted.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// target/<profile>/examples/efs_sim, next to the test binaries' deps/
/// folder, brought up to date once per test process with `cargo build
/// --example efs_sim` (`cargo test` builds examples, `cargo test --test
/// NAME` does not, and a stale one would test old code).
pub fn binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let profile = exe.parent().unwrap().parent().unwrap();
            let cargo = std::env::var_os("CARGO")
                .or(option_env!("CARGO").map(Into::into))
                .unwrap_or_else(|| "cargo".into());
            let mut build = Command::new(cargo);
            // Without the variables cargo sets for this test's crate
            // (CARGO_PKG_NAME, CARGO_MANIFEST_DIR, …): build scripts that
            // watch them (ring's) would rebuild, here and again in the next
            // `cargo test`. The user's own CARGO_* settings stay.
            const SET_FOR_THE_TEST: [&str; 7] = [
                "CARGO_PKG_",
                "CARGO_MANIFEST_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
            ];
            for (name, _) in std::env::vars_os() {
                let name = name.to_string_lossy().into_owned();
                if SET_FOR_THE_TEST.iter().any(|p| name.starts_with(p)) {
                    build.env_remove(name);
                }
            }
            build
                .args(["build", "--quiet", "--example", "efs_sim"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .env("CARGO_TARGET_DIR", profile.parent().unwrap());
            if profile.file_name() == Some("release".as_ref()) {
                build.arg("--release");
            }
            let status = build.status().expect("cargo runs");
            assert!(status.success(), "cargo build --example efs_sim failed");
            let bin = profile.join("examples").join("efs_sim");
            assert!(bin.exists(), "no efs_sim at {}", bin.display());
            bin
        })
        .clone()
}

/// EFS's figures of a package output's model: `model.tiers.efs` of
/// DIST/plan.json (first_byte_ms per operation, throughput_mb_s).
pub fn plan_figures(dist: &Path) -> (f64, f64) {
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dist.join("plan.json")).unwrap()).unwrap();
    let efs = &plan["model"]["tiers"]["efs"];
    match (
        efs["first_byte_ms"].as_f64(),
        efs["throughput_mb_s"].as_f64(),
    ) {
        (Some(latency), Some(throughput)) => (latency, throughput),
        _ => panic!(
            "plan.json has no model.tiers.efs figures: {}",
            plan["model"]
        ),
    }
}

/// A running efs_sim: unmounted (and its process ended) on drop.
pub struct EfsMount {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    mountpoint: PathBuf,
    stats: PathBuf,
    _dir: Option<tempfile::TempDir>,
    _stats_dir: tempfile::TempDir,
}

impl EfsMount {
    /// Serves `source` on a new temporary folder.
    pub fn new(source: &Path, latency_ms: f64, throughput_mb_s: f64) -> EfsMount {
        let dir = tempfile::tempdir().unwrap();
        let mut mount = EfsMount::start(
            source,
            dir.path(),
            &[
                "--latency-ms",
                &latency_ms.to_string(),
                "--throughput-mb-s",
                &throughput_mb_s.to_string(),
            ],
        );
        mount._dir = Some(dir);
        mount
    }

    /// Serves the EFS tree `source` of the package output `dist` with the
    /// figures its plan was solved with.
    pub fn for_plan(source: &Path, dist: &Path) -> EfsMount {
        let (latency, throughput) = plan_figures(dist);
        EfsMount::new(source, latency, throughput)
    }

    /// Serves `source` on `mountpoint` with efs_sim's `args`; panics with
    /// efs_sim's own message when it cannot mount.
    pub fn start(source: &Path, mountpoint: &Path, args: &[&str]) -> EfsMount {
        let stats_dir = tempfile::tempdir().unwrap();
        let stats = stats_dir.path().join("stats.json");
        let mut child = Command::new(binary())
            .arg(source)
            .arg(mountpoint)
            .args(args)
            .arg("--watch-stdin")
            .arg("--stats")
            .arg(&stats)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("efs_sim starts");
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
        if !line.starts_with("mounted ") {
            let out = child.wait_with_output().unwrap();
            panic!(
                "FUSE is unavailable: efs_sim could not mount {} on {} ({}): {}\n\
                 The EFS simulation needs /dev/fuse (modprobe fuse) and root; CI machines have both.",
                source.display(),
                mountpoint.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        EfsMount {
            stdin: child.stdin.take(),
            child: Some(child),
            mountpoint: mountpoint.to_path_buf(),
            stats,
            _dir: None,
            _stats_dir: stats_dir,
        }
    }

    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Unmounts and returns efs_sim's operation counts (`--stats`).
    pub fn stop(mut self) -> serde_json::Value {
        let status = self.end();
        assert!(
            status.is_some_and(|s| s.success()),
            "efs_sim did not exit cleanly: {status:?}"
        );
        serde_json::from_slice(&std::fs::read(&self.stats).unwrap()).unwrap()
    }

    /// Closes efs_sim's stdin (it unmounts and exits); kills it after 10 s.
    fn end(&mut self) -> Option<std::process::ExitStatus> {
        drop(self.stdin.take());
        let mut child = self.child.take()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                detach(&self.mountpoint);
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for EfsMount {
    fn drop(&mut self) {
        self.end();
    }
}

/// `umount -l`: detaches a mount, dead or alive.
pub fn detach(mountpoint: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(mountpoint.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
}

/// Whether `mountpoint` is a mount point of this process's namespace.
pub fn is_mounted(mountpoint: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let wanted = mountpoint.to_str().unwrap();
    mounts
        .lines()
        .any(|line| line.split(' ').nth(4) == Some(wanted))
}
