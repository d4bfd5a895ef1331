//! graph resolve: an import site to the modules it reaches, as Python
//! resolves it.
//!
//! Input: the importing module's name, whether it is a package, a
//! [`Site`], and a [`ModuleNamespace`] that says which modules exist and
//! what their `__all__` lists. Output: a [`Resolution`] (the modules, the
//! names not found), absolute names, and the module attributes a site reads.

use crate::imports::{ImportTable, Site, SiteKind};
use crate::scan::Inventory;

/// What the resolver needs to know about the module namespace; a trait so
/// that resolution can be tested with plain tables.
pub trait ModuleNamespace {
    fn exists(&self, name: &str) -> bool;
    fn all_of(&self, name: &str) -> Option<&[String]>;
}

/// A resolved site: the modules it reaches, and the names it could not find.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    pub targets: Vec<String>,
    pub missing: Vec<String>,
}

/// Resolves one site of module `importer` (a package when `is_package`).
pub fn resolve_site(
    ns: &dyn ModuleNamespace,
    importer: &str,
    is_package: bool,
    site: &Site,
) -> Resolution {
    let mut out = Resolution::default();
    if site.kind == SiteKind::ModuleName {
        // Reaches only what the module's `__getattr__` loads ([`attribute_reads`]).
        return out;
    }
    let base = match absolute_name(importer, is_package, site.level, &site.target) {
        Some(base) => base,
        None => {
            out.missing.push(format!(
                "{}{}",
                ".".repeat(site.level as usize),
                site.target
            ));
            return out;
        }
    };
    // Lazy idioms name submodules of a package (`names`), or, written as a
    // full name (`import_module(f"pkg.{name}")`), the module itself.
    if site.kind == SiteKind::Attribute {
        // Only a submodule deeper than the imported module is news; the rest
        // of the chain is attributes.
        let root = absolute_name(importer, is_package, site.level, &site.names[0]);
        if let (Some(root), Some(found)) = (root, deepest_existing(ns, &base)) {
            if found.len() > root.len() && found.starts_with(&root) {
                out.targets.push(found);
            }
        }
        return out;
    }
    let from_like =
        matches!(site.kind, SiteKind::From) || (site.is_lazy() && !site.names.is_empty());
    if !from_like {
        // `import a.b.c`: the deepest existing prefix (parents follow by
        // parent edges); the rest is missing.
        match deepest_existing(ns, &base) {
            Some(found) => {
                if found != base {
                    out.missing.push(base.clone());
                }
                out.targets.push(found);
            }
            None => out.missing.push(base),
        }
        return out;
    }
    if ns.exists(&base) {
        // A lazy idiom names submodules only; the package itself is the importer.
        if !site.is_lazy() {
            out.targets.push(base.clone());
        }
    } else if !base.is_empty() {
        out.missing.push(base.clone());
        return out;
    }
    for name in &site.names {
        if name == "*" {
            for exported in ns.all_of(&base).unwrap_or(&[]) {
                let sub = format!("{base}.{exported}");
                if ns.exists(&sub) {
                    out.targets.push(sub);
                }
            }
            continue;
        }
        let sub = if base.is_empty() {
            name.clone()
        } else {
            format!("{base}.{name}")
        };
        if ns.exists(&sub) {
            out.targets.push(sub);
        } else if site.is_lazy() {
            out.missing.push(sub);
        }
    }
    out
}

/// The absolute module a site names; `None` when a relative import climbs
/// above the top-level package.
pub fn absolute_name(importer: &str, is_package: bool, level: u32, target: &str) -> Option<String> {
    if level == 0 {
        return Some(target.to_string());
    }
    let mut parts: Vec<&str> = importer.split('.').collect();
    if !is_package {
        parts.pop();
    }
    for _ in 1..level {
        parts.pop()?;
    }
    if parts.is_empty() {
        return None;
    }
    let package = parts.join(".");
    Some(if target.is_empty() {
        package
    } else {
        format!("{package}.{target}")
    })
}

/// The module a binding's import statement names, made absolute
/// (`from ..x import y` in `a.b.c` → `a.x`).
pub fn binding_base(
    importer: &crate::scan::Module,
    binding: &crate::imports::Binding,
) -> Option<String> {
    absolute_name(
        &importer.name,
        importer.is_package,
        binding.level,
        &binding.target,
    )
}

/// The module attributes a site reads, as `(module, attribute)`: what a
/// module-level `__getattr__` (PEP 562) of that module would be asked for.
/// An attribute chain `pkg.name.rest` reads `name` of the deepest module it
/// names; `from pkg import name` reads `name` of `pkg` (CPython's
/// `_handle_fromlist` tries `hasattr` first), `from pkg import *` every
/// name of its `__all__`. `import a.b` reads nothing: the finders load it.
pub fn attribute_reads(
    ns: &dyn ModuleNamespace,
    importer: &str,
    is_package: bool,
    site: &Site,
) -> Vec<(String, String)> {
    if !matches!(site.kind, SiteKind::Attribute | SiteKind::From) {
        return Vec::new();
    }
    let Some(base) = absolute_name(importer, is_package, site.level, &site.target) else {
        return Vec::new();
    };
    match site.kind {
        SiteKind::Attribute => {
            let Some(module) = deepest_existing(ns, &base) else {
                return Vec::new();
            };
            let rest = base[module.len()..].trim_start_matches('.');
            match rest.split('.').next() {
                Some(name) if !name.is_empty() => vec![(module, name.to_string())],
                _ => Vec::new(),
            }
        }
        SiteKind::From if ns.exists(&base) => {
            let mut names: Vec<&String> = Vec::new();
            for name in &site.names {
                if name == "*" {
                    names.extend(ns.all_of(&base).unwrap_or(&[]));
                } else {
                    names.push(name);
                }
            }
            names
                .into_iter()
                .map(|name| (base.clone(), name.clone()))
                .collect()
        }
        _ => Vec::new(),
    }
}

fn deepest_existing(ns: &dyn ModuleNamespace, name: &str) -> Option<String> {
    let mut candidate = name;
    loop {
        if ns.exists(candidate) {
            return Some(candidate.to_string());
        }
        candidate = candidate.rsplit_once('.')?.0;
    }
}

impl ModuleNamespace for InventoryNamespace<'_> {
    fn exists(&self, name: &str) -> bool {
        self.inv.module(name).is_some()
    }
    fn all_of(&self, name: &str) -> Option<&[String]> {
        let id = self.inv.module(name)?;
        self.imports.modules.get(id)?.all.as_deref()
    }
}

/// The module namespace of a unit, with `__all__` from a parse table.
pub struct InventoryNamespace<'a> {
    pub inv: &'a Inventory,
    pub imports: &'a ImportTable,
}
