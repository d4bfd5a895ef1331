//! Placement groups: the units the optimiser moves between tiers.
//!
//! Input: an [`Analysis`], its [`UsageTable`] and the unit's pins. Output:
//! [`Group`]s that partition every file of the unit. A package is one group
//! with its data files, split into subpackage groups only where its modules'
//! usage differs (so the model stays small); an extension module is merged
//! with the shared libraries it links (a library shared by several groups
//! joins them into one); a distribution's `*.dist-info` goes with the group
//! of its top-level package so `importlib.metadata` keeps working; the
//! handler's own code is pinned local; each declared asset is a group.

use crate::analysis::Analysis;
use crate::config::{Pin, TierName};
use crate::graph::{EdgeKind, Node};
use crate::scan::{FileId, FileKind, ModuleId, RootKind};
use crate::usage::{Usage, UsageTable};
use petgraph::visit::EdgeRef;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// How deep a package is split at most (`a.b.c` is depth 3).
const MAX_SPLIT_DEPTH: usize = 3;

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// A module name, `asset:path`, `lib:path` or `(other)`.
    pub name: String,
    pub files: Vec<FileId>,
    pub bytes: u64,
    /// The most used usage class among the group's modules.
    pub usage: Usage,
    /// Probability that init needs the group's files.
    pub init_probability: f64,
    /// Probability that an invocation first needs them.
    pub invocation_probability: f64,
    /// Modelled import time of its modules during init (ms), when loaded.
    pub import_ms: f64,
    /// Expected files init reads from the group: the files of the modules
    /// it loads, the data files it opens, and, when it loads an extension
    /// module, the group's shared libraries (what an EFS read costs).
    pub init_files: f64,
    /// Expected folders on the way to those files (one lookup each on EFS).
    pub init_dirs: f64,
    /// Expected bytes of those files.
    pub init_bytes: f64,
    pub pinned: Option<TierName>,
    /// Why it is pinned, for the report.
    pub pin_reason: Option<String>,
    /// Why it may not go to S3: the runtime importer's S3 client is made of
    /// these packages, so fetching them would need them first.
    pub not_on_s3: Option<String>,
}

/// Modules the runtime importer's S3 client may import: every module of the
/// seed packages present in the unit, and everything they import at any
/// time, optional imports included (never `TYPE_CHECKING`). None of them
/// may be on S3: fetching would need the client while it is being
/// imported, a deadlock on the module's import lock.
pub fn s3_client_closure(a: &Analysis) -> Vec<bool> {
    let g = &a.graph.graph;
    let mut in_closure = vec![false; g.node_count()];
    let mut stack: Vec<petgraph::graph::NodeIndex> = a
        .inventory
        .modules
        .iter()
        .enumerate()
        .filter(|(_, m)| crate::contract::is_s3_client_seed(crate::names::top_level(&m.name)))
        .map(|(m, _)| petgraph::graph::NodeIndex::new(m))
        .collect();
    while let Some(node) = stack.pop() {
        if std::mem::replace(&mut in_closure[node.index()], true) {
            continue;
        }
        stack.extend(
            g.edges(node)
                .filter(|e| !e.weight().type_checking)
                .map(|e| e.target())
                .filter(|t| !in_closure[t.index()]),
        );
    }
    in_closure.truncate(a.inventory.modules.len());
    in_closure
}

/// Top-level names of the S3 client's import closure, for the catalogue:
/// the runtime importer never fetches from S3 for an import they make.
pub fn s3_client_packages(a: &Analysis) -> Vec<String> {
    let closure = s3_client_closure(a);
    let mut names: std::collections::BTreeSet<&str> = a
        .inventory
        .modules
        .iter()
        .zip(&closure)
        .filter(|(_, &inside)| inside)
        .map(|(m, _)| crate::names::top_level(&m.name))
        .collect();
    for seed in crate::contract::s3_client_seeds() {
        names.insert(seed);
    }
    names.into_iter().map(str::to_string).collect()
}

/// Builds the groups.
pub fn build(a: &Analysis, usage: &UsageTable, pins: &[Pin]) -> Vec<Group> {
    let inv = &a.inventory;
    let keys = group_keys(a, usage);
    // Union extension groups with the libraries they need.
    let mut union = UnionFind::new(keys.len());
    let key_index: HashMap<&str, usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.key.as_str(), i))
        .collect();
    let file_key: Vec<Option<usize>> =
        keys.iter().fold(vec![None; inv.files.len()], |mut acc, k| {
            for &f in &k.files {
                acc[f] = Some(key_index[k.key.as_str()]);
            }
            acc
        });
    let g = &a.graph.graph;
    for e in g
        .edge_references()
        .filter(|e| e.weight().kind == EdgeKind::Library)
    {
        let file_of = |n: petgraph::graph::NodeIndex| match g[n] {
            Node::Module(m) => inv.modules[m].file,
            Node::Library(f) => Some(f),
        };
        if let (Some(from), Some(to)) = (file_of(e.source()), file_of(e.target())) {
            if let (Some(x), Some(y)) = (file_key[from], file_key[to]) {
                union.join(x, y);
            }
        }
    }
    // A module and the files it opens by path stay in one tree.
    for (x, y) in super::located::merges(inv, &file_key) {
        union.join(x, y);
    }
    let mut merged: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..keys.len() {
        merged.entry(union.root(i)).or_default().push(i);
    }
    let facts = ModuleFacts {
        import_ms: import_estimates(a, usage),
        s3_client: s3_client_closure(a),
    };
    let mut groups: Vec<Group> = merged
        .into_values()
        .map(|members| {
            // Name the group after its biggest member.
            let mut members: Vec<&GroupKey> = members.iter().map(|&i| &keys[i]).collect();
            members.sort_by_key(|k| {
                std::cmp::Reverse(k.files.iter().map(|&f| inv.files[f].size).sum::<u64>())
            });
            let files: Vec<FileId> = members
                .iter()
                .flat_map(|k| k.files.iter().copied())
                .collect();
            let modules: Vec<ModuleId> = members
                .iter()
                .flat_map(|k| k.modules.iter().copied())
                .collect();
            make_group(
                a,
                usage,
                members[0].key.clone(),
                files,
                &modules,
                &facts,
                members.iter().any(|k| k.handler),
            )
        })
        .collect();
    apply_pins(a, &mut groups, pins);
    groups.sort_by(|x, y| x.name.cmp(&y.name));
    groups
}

/// A set of files that stays together before library merging.
struct GroupKey {
    key: String,
    files: Vec<FileId>,
    modules: Vec<ModuleId>,
    handler: bool,
}

/// The group key of every file, after splitting packages where usage differs.
fn group_keys(a: &Analysis, usage: &UsageTable) -> Vec<GroupKey> {
    let inv = &a.inventory;
    let split = split_points(a, usage);
    let is_package = |name: &str| inv.module(name).is_some_and(|m| inv.modules[m].is_package);
    // Distribution → the key of its top-level package, for its metadata.
    let mut dist_key: HashMap<usize, String> = HashMap::new();
    for file in &inv.files {
        if let (Some(dist), Some(owner)) = (file.dist, file.owner) {
            let top = inv.modules[owner]
                .name
                .split('.')
                .next()
                .unwrap_or("")
                .to_string();
            dist_key.entry(dist).or_insert(top);
        }
    }
    let mut by_key: BTreeMap<String, GroupKey> = BTreeMap::new();
    for (id, file) in inv.files.iter().enumerate() {
        let root_kind = inv.roots[file.root].kind;
        let (key, module, handler) = if file.asset {
            (format!("asset:{}", file.rel), None, false)
        } else if root_kind == RootKind::Source {
            ("(handler)".to_string(), file.owner, true)
        } else if let Some(owner) = file.owner {
            // Libraries inside a package's folder too: code finds them next
            // to `__file__` (ctypes) as often as through DT_NEEDED.
            (
                key_for_module(&inv.modules[owner].name, &split, is_package),
                Some(owner),
                false,
            )
        } else if file.kind == FileKind::SharedLib && !is_orphan_library(a, id) {
            (format!("lib:{}", file.rel), None, false)
        } else if let Some(key) = file.dist.and_then(|d| dist_key.get(&d)) {
            (key.clone(), None, false)
        } else {
            ("(other)".to_string(), None, false)
        };
        let entry = by_key.entry(key.clone()).or_insert_with(|| GroupKey {
            key,
            files: Vec::new(),
            modules: Vec::new(),
            handler,
        });
        entry.files.push(id);
        if let Some(m) = module {
            if inv.modules[m].file == Some(id) || inv.modules[m].file.is_none() {
                entry.modules.push(m);
            }
        }
    }
    // Namespace packages have no file: attach them to their key too.
    for (m, module) in inv.modules.iter().enumerate() {
        if module.file.is_none() {
            let key = key_for_module(&module.name, &split, is_package);
            if let Some(entry) = by_key.get_mut(&key) {
                entry.modules.push(m);
            }
        }
    }
    by_key.into_values().collect()
}

/// A library outside any package (`pkg.libs/…`) that no object links: a
/// package loads it by a path of its own (ctypes), so it goes with the
/// group of its distribution's top-level package.
fn is_orphan_library(a: &Analysis, file: FileId) -> bool {
    let Some(&node) = a.graph.library_nodes.get(&file) else {
        return false;
    };
    let linked = a
        .graph
        .graph
        .edges_directed(node, petgraph::Direction::Incoming)
        .any(|e| e.weight().kind == EdgeKind::Library);
    !linked && a.inventory.files[file].dist.is_some()
}

/// Packages whose subpackages get groups of their own: those whose modules
/// do not all share one usage class.
fn split_points(a: &Analysis, usage: &UsageTable) -> std::collections::HashSet<String> {
    let inv = &a.inventory;
    let mut classes: HashMap<&str, std::collections::BTreeSet<Usage>> = HashMap::new();
    for (m, module) in inv.modules.iter().enumerate() {
        let parts: Vec<&str> = module.name.split('.').collect();
        for depth in 1..parts.len().min(MAX_SPLIT_DEPTH + 1) {
            let prefix_len: usize =
                parts[..depth].iter().map(|p| p.len()).sum::<usize>() + depth - 1;
            classes
                .entry(&module.name[..prefix_len])
                .or_default()
                .insert(usage.of(m).usage);
        }
    }
    classes
        .into_iter()
        .filter(|(_, c)| c.len() > 1)
        .map(|(p, _)| p.to_string())
        .collect()
}

/// The deepest package prefix of `name` that is not split, plus one level
/// below each split package — but never below a folder: a module stays
/// with its package's other files, since code finds its data files next
/// to `__file__` and a bundle is extracted into a folder of its own.
fn key_for_module(
    name: &str,
    split: &std::collections::HashSet<String>,
    is_package: impl Fn(&str) -> bool,
) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    let mut depth = 1;
    while depth < parts.len()
        && depth <= MAX_SPLIT_DEPTH
        && split.contains(&parts[..depth].join("."))
        && is_package(&parts[..depth + 1].join("."))
    {
        depth += 1;
    }
    parts[..depth].join(".")
}

/// Modelled import time per module (ms): observed self time when statistics
/// have it, plus the observed time outside the unit its import pays
/// (`ModuleUsage::outside_us`), else a static estimate from the bytes Python must read and
/// execute: 1 ms per 50 kB of source (≈0.5 ms per 50 kB of bytecode with
/// valid `.pyc`) and 1 ms per MB of extension module (dlopen, relocation).
fn import_estimates(a: &Analysis, usage: &UsageTable) -> Vec<f64> {
    let inv = &a.inventory;
    let mut ms = vec![0.0; inv.modules.len()];
    for (m, module) in inv.modules.iter().enumerate() {
        let outside_ms = usage.of(m).outside_us as f64 / 1000.0;
        if let Some(us) = usage.of(m).self_us {
            ms[m] = us as f64 / 1000.0 + outside_ms;
            continue;
        }
        ms[m] = outside_ms;
        if let Some(file) = module.file.map(|f| &inv.files[f]) {
            ms[m] += match file.kind {
                FileKind::Python => file.size as f64 / 50_000.0,
                FileKind::Bytecode => file.size as f64 / 100_000.0,
                FileKind::Extension => file.size as f64 / 1_000_000.0,
                _ => 0.0,
            };
        }
    }
    ms
}

/// Per module: modelled import time (ms) and membership of the S3 client's
/// import closure.
struct ModuleFacts {
    import_ms: Vec<f64>,
    s3_client: Vec<bool>,
}

fn make_group(
    a: &Analysis,
    usage: &UsageTable,
    name: String,
    files: Vec<FileId>,
    modules: &[ModuleId],
    facts: &ModuleFacts,
    handler: bool,
) -> Group {
    let inv = &a.inventory;
    let bytes = files.iter().map(|&f| inv.files[f].size).sum();
    let asset = files.iter().all(|&f| inv.files[f].asset) && !files.is_empty();
    let best = modules
        .iter()
        .map(|&m| usage.of(m).usage)
        .min()
        .unwrap_or(if asset {
            Usage::Hot
        } else {
            Usage::Unreachable
        });
    // Lazy modules are found at init but their files are read later; a
    // file init opened by path (observed) makes its group needed at init.
    let opened = files
        .iter()
        .filter_map(|f| usage.files_opened_at_init.get(f).copied())
        .fold(0.0, f64::max);
    let init_probability = modules
        .iter()
        .filter(|&&m| usage.of(m).usage == Usage::Hot)
        .map(|&m| usage.of(m).init_probability)
        .fold(if asset { 1.0 } else { opened }, f64::max);
    let best = if opened > 0.0 { Usage::Hot } else { best };
    let invocation_probability = modules
        .iter()
        .map(|&m| match usage.of(m).usage {
            Usage::Lazy => 1.0,
            _ => usage.of(m).invocation_probability,
        })
        .fold(0.0, f64::max);
    let import = modules
        .iter()
        .filter(|&&m| usage.of(m).usage == Usage::Hot)
        .map(|&m| facts.import_ms[m] * usage.of(m).init_probability)
        .sum();
    let (init_files, init_dirs, init_bytes) = init_reads(a, usage, &files, modules);
    let not_on_s3 = modules
        .iter()
        .find(|&&m| facts.s3_client[m])
        .map(|&m| {
            format!(
                "holds {}, which the S3 client the runtime importer fetches with may import; never on S3",
                inv.modules[m].name
            )
        });
    Group {
        name,
        files,
        bytes,
        usage: best,
        init_probability,
        invocation_probability,
        import_ms: import,
        init_files,
        init_dirs,
        init_bytes,
        pinned: handler.then_some(TierName::Local),
        pin_reason: handler.then(|| "the handler's own code".to_string()),
        not_on_s3,
    }
}

/// What init reads of a group, in expectation: (files, folders, bytes).
/// A loaded module reads its own file; a file init opens by path is read;
/// an extension module loads the group's shared libraries (counted whole,
/// though the loader maps only the pages it touches). The files a group
/// holds but init never opens (other modules, tests, data) cost nothing.
fn init_reads(
    a: &Analysis,
    usage: &UsageTable,
    files: &[FileId],
    modules: &[ModuleId],
) -> (f64, f64, f64) {
    let inv = &a.inventory;
    let mut read: BTreeMap<FileId, f64> = BTreeMap::new();
    let mut note = |f: FileId, p: f64| {
        let e = read.entry(f).or_insert(0.0);
        *e = e.max(p);
    };
    let mut extension = 0.0f64;
    for &m in modules {
        let u = usage.of(m);
        if u.usage != Usage::Hot || u.init_probability <= 0.0 {
            continue;
        }
        if let Some(f) = inv.modules[m].file {
            note(f, u.init_probability);
            if inv.files[f].kind == FileKind::Extension {
                extension = extension.max(u.init_probability);
            }
        }
    }
    for &f in files {
        if let Some(&p) = usage.files_opened_at_init.get(&f) {
            note(f, p);
        }
        if extension > 0.0 && inv.files[f].kind == FileKind::SharedLib {
            note(f, extension);
        }
    }
    let mut dirs: BTreeMap<&str, f64> = BTreeMap::new();
    let (mut n, mut bytes) = (0.0, 0.0);
    for (&f, &p) in &read {
        n += p;
        bytes += p * inv.files[f].size as f64;
        // Every folder on the way is looked up once.
        let rel = inv.files[f].rel.as_str();
        for (i, _) in rel.match_indices('/') {
            let e = dirs.entry(&rel[..i]).or_insert(0.0);
            *e = e.max(p);
        }
    }
    (n, dirs.values().sum(), bytes)
}

fn apply_pins(a: &Analysis, groups: &mut [Group], pins: &[Pin]) {
    for pin in pins {
        let matcher = PinMatcher::new(pin);
        for group in groups.iter_mut().filter(|g| {
            g.pinned.is_none() || g.pin_reason.as_deref() != Some("the handler's own code")
        }) {
            if matcher.matches(a, group) {
                if pin.tier == TierName::S3 && group.not_on_s3.is_some() {
                    continue; // the importer's own S3 client: `unmatched_pins` reports it
                }
                group.pinned = Some(pin.tier);
                group.pin_reason = Some(format!(
                    "pinned to {} by caios-pack.yaml ({})",
                    pin.tier.label(),
                    pin.module.as_deref().or(pin.glob.as_deref()).unwrap_or("")
                ));
            }
        }
    }
}

/// Warnings about pins that do not do what they say: an invalid glob, a pin
/// that matches no group (almost always a typo, which would otherwise
/// silently leave the files wherever the optimiser puts them), an S3 pin on
/// the runtime importer's own S3 client (ignored).
pub fn pin_warnings(a: &Analysis, groups: &[Group], pins: &[Pin]) -> Vec<String> {
    let mut warnings = Vec::new();
    for pin in pins {
        let what = pin
            .module
            .as_deref()
            .map(|m| format!("module `{m}`"))
            .or_else(|| pin.glob.as_deref().map(|g| format!("glob `{g}`")))
            .unwrap_or_default();
        if let Some(Err(err)) = pin.glob.as_deref().map(globset::Glob::new) {
            warnings.push(format!("the pin {what} is not a valid glob: {err}"));
            continue;
        }
        let matcher = PinMatcher::new(pin);
        let matched: Vec<&Group> = groups.iter().filter(|g| matcher.matches(a, g)).collect();
        if matched.is_empty() {
            warnings.push(format!(
                "the pin {what} matches no module or file of the unit; check its spelling (files are matched by their path under their root)"
            ));
        }
        if pin.tier == TierName::S3 {
            for g in matched.iter().filter(|g| g.not_on_s3.is_some()) {
                warnings.push(format!(
                    "the pin {what} would put {} on S3, but the runtime importer fetches with it; kept off S3",
                    g.name
                ));
            }
        }
    }
    warnings
}

/// A pin's test: a module name (the group or a subpackage of it) or a glob
/// over the paths of the group's files, relative to their roots.
struct PinMatcher<'p> {
    module: Option<&'p str>,
    glob: Option<globset::GlobMatcher>,
}

impl<'p> PinMatcher<'p> {
    fn new(pin: &'p Pin) -> Self {
        PinMatcher {
            module: pin.module.as_deref(),
            glob: pin
                .glob
                .as_deref()
                .and_then(|g| globset::Glob::new(g).ok())
                .map(|g| g.compile_matcher()),
        }
    }

    /// By module: the group's name, or any module that owns one of its files
    /// (a merged group is named after its biggest member, often a library).
    fn matches(&self, a: &Analysis, group: &Group) -> bool {
        let inv = &a.inventory;
        let under = |name: &str, m: &str| {
            name == m || (name.starts_with(m) && name.as_bytes().get(m.len()) == Some(&b'.'))
        };
        let by_module = self.module.is_some_and(|m| {
            under(&group.name, m)
                || group
                    .files
                    .iter()
                    .filter_map(|&f| inv.files[f].owner)
                    .any(|owner| under(&inv.modules[owner].name, m))
        });
        let by_glob = self.glob.as_ref().is_some_and(|g| {
            group
                .files
                .iter()
                .any(|&f| g.is_match(&a.inventory.files[f].rel))
        });
        by_module || by_glob
    }
}

struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n).collect(),
        }
    }
    fn root(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }
    fn join(&mut self, x: usize, y: usize) {
        let (rx, ry) = (self.root(x), self.root(y));
        if rx != ry {
            self.parent[rx.max(ry)] = rx.min(ry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_split_points() {
        let split: std::collections::HashSet<String> =
            ["pandas".to_string(), "pandas.io".to_string()].into();
        let packages = ["pandas", "pandas.core", "pandas.io", "pandas.io.formats"];
        let is_package = |name: &str| packages.contains(&name);
        let key = |name: &str| key_for_module(name, &split, is_package);
        assert_eq!(key("numpy.core.multiarray"), "numpy");
        assert_eq!(key("pandas.core.frame"), "pandas.core");
        assert_eq!(key("pandas.io.formats.style"), "pandas.io.formats");
        assert_eq!(key("pandas"), "pandas");
        // A module of a split package stays with its folder's files.
        assert_eq!(key("pandas.io.common"), "pandas.io");
        assert_eq!(key("pandas.api"), "pandas");
    }
}
