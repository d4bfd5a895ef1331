//! Real serverless apps of the corpus (fixtures/apps, see its README) packaged
//! end to end: each app's env is installed from PyPI with pip, the unit gets
//! `limits.local_bytes` = a third of its env (so its files spread over local,
//! EFS and S3), then it is packaged twice -- static analysis alone, and with
//! the statistics of `caios-pack trace` on its events -- and `caios-pack
//! verify` must find every event's result identical to the unpackaged run.
//!
//! The subset covers every failure class of the corpus: 1 (legacy-tools,
//! zope-catalog), 2 (image-thumbs, pdf-report), 3 (gbm-score: ctypes by
//! path; tz-babel, pdf-report: data folders by path), 4 and .libs
//! (scipy-stack), 5 (orders-api), 6 (cv-edges), unpickling (ml-pickle),
//! importlib.metadata entry points and a .pth file (md-plugins), namespace
//! packages (proto-events). Envs are cached under target/test-envs/apps-NAME.
//!
//! An app that caios-pack breaks can be `#[ignore = "the error seen"]`d in
//! the table at the end; `cargo test --test apps -- --include-ignored` runs
//! it anyway.

mod support;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::caios;

fn show(what: &str, out: &Output) -> String {
    format!(
        "{what}: exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The pinned requirements of an app, one per line of its requirements.txt.
fn requirements(app: &Path) -> Vec<String> {
    std::fs::read_to_string(app.join("requirements.txt"))
        .expect("requirements.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// Bytes of the files under `dir`, without `__pycache__` folders.
fn tree_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = entry.path().symlink_metadata().unwrap();
        if meta.is_dir() {
            if entry.file_name() != "__pycache__" {
                total += tree_bytes(&entry.path());
            }
        } else {
            total += meta.len();
        }
    }
    total
}

/// Copies `from` into `to` without `__pycache__` folders.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if src.is_dir() {
            if entry.file_name() != "__pycache__" {
                copy_tree(&src, &dst);
            }
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Installs the app's env, checks the unpackaged handler answers every event
/// without raising, then packages (static, traced) and verifies both.
fn app_roundtrip(name: &str) {
    let app = support::repo().join("fixtures/apps").join(name);
    let reqs = requirements(&app);
    let reqs: Vec<&str> = reqs.iter().map(String::as_str).collect();
    let env = support::pip_env(&format!("apps-{name}"), &reqs);

    let run = Command::new("python3")
        .args(["-I", "-S"])
        .arg(support::repo().join("fixtures/apps/run_unpackaged.py"))
        .arg(&app)
        .arg(&env)
        .output()
        .expect("python3 runs");
    assert!(run.status.success(), "{}", show("unpackaged run", &run));

    let tmp = tempfile::tempdir().unwrap();
    let unit = tmp.path().join("unit");
    copy_tree(&app, &unit);
    let local_bytes = tree_bytes(&env) / 3;
    let yaml = std::fs::read_to_string(unit.join("caios-pack.yaml")).unwrap();
    std::fs::write(
        unit.join("caios-pack.yaml"),
        format!("{yaml}\nlimits:\n  local_bytes: {local_bytes}\n"),
    )
    .unwrap();
    let events = unit.join("events.json");
    let trace = tmp.path().join("trace.json");
    let unit_flags = |cmd: &str| -> Vec<OsString> {
        vec![
            cmd.into(),
            unit.clone().into(),
            "--site-packages".into(),
            env.clone().into(),
        ]
    };

    let mut args = unit_flags("trace");
    args.extend([
        "--events".into(),
        events.clone().into(),
        "--out".into(),
        trace.clone().into(),
    ]);
    let traced = caios(&args);
    assert_eq!(traced.status.code(), Some(0), "{}", show("trace", &traced));

    let mut failures = Vec::new();
    for (mode, stats) in [("static", None), ("trace", Some(&trace))] {
        let dist: PathBuf = tmp.path().join(format!("dist-{mode}"));
        let mut args = unit_flags("package");
        if let Some(stats) = stats {
            args.extend(["--stats".into(), stats.clone().into()]);
        }
        args.extend(["--out".into(), dist.clone().into()]);
        let packaged = caios(&args);
        if packaged.status.code() != Some(0) {
            failures.push(show(&format!("{name}: package ({mode})"), &packaged));
            continue;
        }
        let mut args = unit_flags("verify");
        args.extend([
            "--dist".into(),
            dist.into(),
            "--events".into(),
            events.clone().into(),
        ]);
        let verified = caios(&args);
        if verified.status.code() != Some(0) {
            failures.push(show(&format!("{name}: verify ({mode})"), &verified));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

macro_rules! apps {
    ($($(#[$meta:meta])* $test:ident => $name:literal,)*) => {
        $(
            #[test]
            $(#[$meta])*
            fn $test() {
                app_roundtrip($name);
            }
        )*
    };
}

apps! {
    legacy_tools_apipkg_replaces_its_module => "legacy-tools",
    zope_catalog_deferredimport_proxy => "zope-catalog",
    image_thumbs_pillow_plugins_register => "image-thumbs",
    pdf_report_barcode_registry_and_fonts_by_path => "pdf-report",
    tz_babel_data_folders_by_path => "tz-babel",
    gbm_score_ctypes_library_by_path => "gbm-score",
    scipy_stack_same_soname_in_two_libs => "scipy-stack",
    orders_api_import_cycle => "orders-api",
    cv_edges_reimports_itself => "cv-edges",
    ml_pickle_modules_imported_by_unpickling => "ml-pickle",
    md_plugins_entry_points_and_pth => "md-plugins",
    proto_events_namespace_packages => "proto-events",
    schedule_dates_locale_folders_probed_by_path => "schedule-dates",
}
