//! Benchmark: writing `deployment.zip` (caios-pack's deterministic writer,
//! entries deflated in parallel) against Info-ZIP's `zip -r -6` of the same
//! files, in the same process. Not a test: it prints times, sizes, ratios.
//!
//!     benches/zip_writer.sh                      # the reference unit's package
//!     cargo bench --bench zip_writer -- DIR [RUNS]
//!
//! Each writer runs once uncounted (warm page cache), then RUNS times
//! (default 5); the median counts. Both write their archive to a file in the
//! same temporary folder.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: cargo bench --bench zip_writer -- DIR [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(5);
    let dir = Path::new(dir);
    let work = tempfile::tempdir().expect("temporary folder");
    let ours_path = work.path().join("caios.zip");
    let theirs_path = work.path().join("infozip.zip");
    let ours = || {
        let bytes = caios_pack::emit::zip_folder(dir).expect("caios-pack zip");
        std::fs::write(&ours_path, bytes).expect("write caios.zip");
    };
    let theirs = || {
        let _ = std::fs::remove_file(&theirs_path);
        let status = Command::new("zip")
            .args(["-r", "-6", "-q", "-X"])
            .arg(&theirs_path)
            .arg(".")
            .current_dir(dir)
            .status()
            .expect("run `zip` (apt-get install zip)");
        assert!(status.success(), "zip -r -6 failed");
    };
    let (ours_time, theirs_time) = (median_of(runs, ours), median_of(runs, theirs));
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let (ours_size, theirs_size) = (size(&ours_path), size(&theirs_path));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "input: {} ({} threads, median of {runs})",
        dir.display(),
        threads
    );
    println!("{:<22}{:>12}{:>16}", "writer", "seconds", "bytes");
    println!(
        "{:<22}{:>12.3}{:>16}",
        "caios-pack",
        ours_time.as_secs_f64(),
        ours_size
    );
    println!(
        "{:<22}{:>12.3}{:>16}",
        "zip -r -6",
        theirs_time.as_secs_f64(),
        theirs_size
    );
    println!(
        "speed-up {:.2}x (target >= 1.5x), size ratio {:.4} (target <= 1.02)",
        theirs_time.as_secs_f64() / ours_time.as_secs_f64(),
        ours_size as f64 / theirs_size as f64
    );
}

/// One uncounted run, then the median of `runs`.
fn median_of(runs: usize, mut f: impl FnMut()) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}
