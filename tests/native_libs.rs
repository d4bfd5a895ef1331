//! Shared libraries resolved as the dynamic loader resolves them, on real
//! wheels: numpy and scipy both vendor `libgfortran-040039e1-….so.5.0.0` and
//! `libquadmath-96973f99-….so.0.0.0`, each in its own `.libs` folder, and
//! scipy also ships an RPATH-less libgfortran that finds its libquadmath
//! only through the RPATH of the extension that loads it.

mod support;

use caios_pack::analysis::Analysis;
use caios_pack::scan::ld;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn reference_analysis() -> Analysis {
    let env = support::reference_env();
    support::analyze(&support::repo().join("fixtures/reference-unit"), vec![env])
}

fn rel_of(a: &Analysis, file: usize) -> String {
    a.inventory.files[file].rel.clone()
}

/// (object, a library its load must open: the copy in the same package)
const SAME_SONAME_TABLE: [(&str, &str); 4] = [
    (
        "numpy.libs/libgfortran-040039e1-0352e75f.so.5.0.0",
        "numpy.libs/libquadmath-96973f99-934c22de.so.0.0.0",
    ),
    (
        "scipy.libs/libgfortran-040039e1-0352e75f.so.5.0.0",
        "scipy.libs/libquadmath-96973f99-934c22de.so.0.0.0",
    ),
    (
        "numpy.libs/libscipy_openblas64_-32a4b2a6.so",
        "numpy.libs/libgfortran-040039e1-0352e75f.so.5.0.0",
    ),
    (
        "scipy.libs/libscipy_openblas-6cdc3b4a.so",
        "scipy.libs/libgfortran-040039e1-0352e75f.so.5.0.0",
    ),
];

#[test]
fn a_vendored_soname_resolves_to_its_own_package_copy() {
    let a = reference_analysis();
    let links: BTreeSet<(String, String)> = ld::resolve_links(&a.inventory)
        .into_iter()
        .map(|l| (rel_of(&a, l.from), rel_of(&a, l.to)))
        .collect();
    for (from, to) in SAME_SONAME_TABLE {
        assert!(links.contains(&(from.into(), to.into())), "{from} -> {to}");
        let other = if to.starts_with("numpy.libs/") {
            to.replacen("numpy.libs/", "scipy.libs/", 1)
        } else {
            to.replacen("scipy.libs/", "numpy.libs/", 1)
        };
        assert!(
            !links.contains(&(from.into(), other.clone())),
            "{from} must not open the other package's copy {other}"
        );
    }
    // The RPATH-less libgfortran-8f1e9814 of scipy.libs finds its
    // libquadmath only through the RPATH of an extension that loads it.
    let inherited = ld::resolve_links(&a.inventory).into_iter().find(|l| {
        rel_of(&a, l.from) == "scipy.libs/libgfortran-8f1e9814.so.5.0.0"
            && rel_of(&a, l.to) == "scipy.libs/libquadmath-828275a7.so.0.0.0"
    });
    let via = inherited
        .expect("found through an inherited RPATH")
        .found_via;
    let via = rel_of(&a, via.expect("found by a search, not by soname"));
    assert!(via.starts_with("scipy/"), "found via {via}");
}

/// What the real dynamic loader maps for `path` (`ldd`), within `env`.
fn ldd_in_env(path: &Path, env: &Path) -> Option<BTreeSet<String>> {
    let out = Command::new("ldd").arg(path).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let env = std::fs::canonicalize(env).unwrap();
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| line.split(" => ").nth(1))
            .filter_map(|rest| rest.split(" (").next())
            .filter_map(|p| std::fs::canonicalize(p.trim()).ok())
            .filter_map(|p| {
                p.strip_prefix(&env)
                    .ok()
                    .map(|r| r.to_string_lossy().into_owned())
            })
            .collect(),
    )
}

#[test]
fn every_extension_maps_what_ldd_maps() {
    let env = support::reference_env();
    let a = reference_analysis();
    let inv = &a.inventory;
    let mut roots: Vec<usize> = inv.elf.keys().copied().collect();
    roots.sort_unstable();
    let mut checked = 0;
    let mut with_libs = 0;
    for root in roots {
        let Some(real) = ldd_in_env(&inv.files[root].path, &env) else {
            continue;
        };
        let ours: BTreeSet<String> = ld::load_closure(inv, root)
            .into_iter()
            .map(|f| rel_of(&a, f))
            .collect();
        assert_eq!(ours, real, "{}", inv.files[root].rel);
        checked += 1;
        with_libs += usize::from(!real.is_empty());
    }
    assert!(checked > 100, "only {checked} objects checked");
    assert!(
        with_libs > 20,
        "only {with_libs} objects load vendored libraries"
    );
}

/// The plan-time layout check: the reference env's groups keep every
/// library with the objects that find it; splitting numpy.libs' libquadmath
/// into a group of its own on another tier is a load that would fail.
#[test]
fn the_layout_check_finds_a_library_placed_apart() {
    use caios_pack::config::TierName;
    use caios_pack::plan::{groups, layout};
    let a = reference_analysis();
    let table = caios_pack::usage::classify(&a, None);
    let mut groups = groups::build(&a, &table, &a.unit.pins);
    let all_local = vec![TierName::Local; groups.len()];
    assert_eq!(
        layout::broken_loads(&a, &groups, &all_local),
        Vec::<String>::new()
    );
    // Each group on a tier of its own kind: still fine, groups hold what links.
    let spread: Vec<TierName> = (0..groups.len())
        .map(|g| [TierName::Local, TierName::Efs, TierName::S3][g % 3])
        .collect();
    assert_eq!(
        layout::broken_loads(&a, &groups, &spread),
        Vec::<String>::new()
    );
    // Now move libquadmath out of its group.
    let quad = "numpy.libs/libquadmath-96973f99-934c22de.so.0.0.0";
    let g = groups
        .iter()
        .position(|g| g.files.iter().any(|&f| rel_of(&a, f) == quad))
        .unwrap();
    let pos = groups[g]
        .files
        .iter()
        .position(|&f| rel_of(&a, f) == quad)
        .unwrap();
    let file = groups[g].files.remove(pos);
    let mut apart = groups[g].clone();
    apart.name = "apart".into();
    apart.files = vec![file];
    groups.push(apart);
    let mut tiers = vec![TierName::Local; groups.len()];
    *tiers.last_mut().unwrap() = TierName::S3;
    let broken = layout::broken_loads(&a, &groups, &tiers);
    assert!(
        broken
            .iter()
            .any(|b| b.contains(quad) && b.contains("numpy.libs/libgfortran")),
        "{broken:?}"
    );
}
