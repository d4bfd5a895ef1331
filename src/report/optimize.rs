//! The `optimize` command's outputs: the plan per tier, the cost breakdown,
//! the regime in words; `--format json` lists every group with its tier and
//! the reason for it.

use super::human_bytes;
use crate::config::TierName;
use crate::plan::{Group, Infeasible, Plan};
use serde::Serialize;
use std::fmt::Write;

pub fn text(plan: &Plan, groups: &[Group], handler: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "placement for {handler}: {}", plan.regime);
    let _ = writeln!(out, "solver: {}", plan.status);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<8}{:>8}{:>12}{:>16}{:>16}{:>14}",
        "tier", "groups", "bytes", "limit", "cold start ms", "$ / month"
    );
    for share in &plan.per_tier {
        let limit = match share.tier {
            TierName::Local => human_bytes(plan.local_limit),
            TierName::S3 => format!("/tmp {}", human_bytes(plan.tmp_limit)),
            TierName::Efs => "-".into(),
        };
        let _ = writeln!(
            out,
            "{:<8}{:>8}{:>12}{:>16}{:>16.0}{:>14.4}",
            share.tier.label(),
            share.groups,
            human_bytes(share.bytes),
            limit,
            share.cold_start_ms,
            share.monthly_usd
        );
    }
    let _ = writeln!(out);
    let budget = plan
        .max_latency_ms
        .map_or("no budget".to_string(), |m| format!("budget {m:.0} ms"));
    let _ = writeln!(
        out,
        "modelled cold start: {:.0} ms ({budget})",
        plan.cold_start_ms
    );
    let _ = writeln!(
        out,
        "expected extra time on a container's first invocation (deferred and lazy groups): {:.0} ms",
        plan.first_invocation_ms
    );
    let c = &plan.cost;
    let _ = writeln!(
        out,
        "monthly cost: ${:.2} = storage ${:.2} + requests and reads ${:.2} + EFS fixed ${:.2} + billed INIT ${:.2}",
        c.total_usd, c.storage_usd, c.requests_and_reads_usd, c.efs_fixed_usd, c.billed_init_usd
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "20 biggest groups:");
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&g| std::cmp::Reverse(groups[g].bytes));
    for g in order.into_iter().take(20) {
        let group = &groups[g];
        let _ = writeln!(
            out,
            "  {:<6}{:>10}  p(init) {:.2}  {}  — {}",
            plan.tiers[g].label(),
            human_bytes(group.bytes),
            group.init_probability,
            group.name,
            reason(plan, groups, g)
        );
    }
    out
}

/// Why a group sits on its tier, in words.
pub fn reason(plan: &Plan, groups: &[Group], g: usize) -> String {
    let group = &groups[g];
    if let Some(pin) = &group.pin_reason {
        return pin.clone();
    }
    if let (Some(why), TierName::Local | TierName::Efs) = (&group.not_on_s3, plan.tiers[g]) {
        return why.clone();
    }
    match plan.tiers[g] {
        TierName::Local if group.init_probability > 0.0 => {
            "needed at init; local is fastest".into()
        }
        TierName::Local => "fits in the package, which costs nothing".into(),
        TierName::S3 if plan.prefetch.contains(&g) => {
            "needed at init but does not fit locally; prefetched from S3".into()
        }
        TierName::S3 => format!(
            "{} at init; cheapest storage, fetched on first use",
            group.usage.label()
        ),
        TierName::Efs => {
            "needed at init; fetching it from S3 would break the latency budget".into()
        }
    }
}

#[derive(Serialize)]
struct JsonPlan<'a> {
    feasible: bool,
    plan: &'a Plan,
    groups: Vec<JsonGroup<'a>>,
}

#[derive(Serialize)]
struct JsonGroup<'a> {
    name: &'a str,
    tier: TierName,
    bytes: u64,
    files: usize,
    usage: crate::usage::Usage,
    init_probability: f64,
    invocation_probability: f64,
    import_ms: f64,
    prefetch: bool,
    reason: String,
}

pub fn json(plan: &Plan, groups: &[Group]) -> String {
    serde_json::to_string_pretty(&json_plan(plan, groups)).unwrap_or_default()
}

fn json_plan<'a>(plan: &'a Plan, groups: &'a [Group]) -> JsonPlan<'a> {
    JsonPlan {
        feasible: true,
        plan,
        groups: groups
            .iter()
            .enumerate()
            .map(|(g, group)| JsonGroup {
                name: &group.name,
                tier: plan.tiers[g],
                bytes: group.bytes,
                files: group.files.len(),
                usage: group.usage,
                init_probability: group.init_probability,
                invocation_probability: group.invocation_probability,
                import_ms: group.import_ms,
                prefetch: plan.prefetch.contains(&g),
                reason: reason(plan, groups, g),
            })
            .collect(),
    }
}

/// One file of the unit in `plan.json`, for the report's treemap.
#[derive(Serialize)]
struct JsonFile<'a> {
    /// Relative to its `sys.path` root.
    path: &'a str,
    /// `source`, `site-packages`, `pth` or `assets`.
    root: crate::scan::RootKind,
    distribution: Option<&'a str>,
    /// The module the file is or belongs to (a package for its data files).
    module: Option<&'a str>,
    bytes: u64,
    kind: &'static str,
    /// Index into `groups`.
    group: usize,
    tier: TierName,
    usage: crate::usage::Usage,
    usage_reason: &'a str,
}

/// `plan.json` as `package` writes it: the plan and its groups, every file
/// it ships with its group, tier and usage, what was emitted, and the
/// package limit (Lambda's minus layers).
pub fn package_json(
    plan: &Plan,
    groups: &[Group],
    a: &crate::analysis::Analysis,
    usage: &crate::usage::UsageTable,
    emitted: &crate::emit::Emitted,
    lazy: &crate::lazy_bindings::LazyBindings,
) -> String {
    let inv = &a.inventory;
    let mut group_of = vec![None; inv.files.len()];
    for (g, group) in groups.iter().enumerate() {
        for &f in &group.files {
            group_of[f] = Some(g);
        }
    }
    let shipped = crate::emit::shipped_files(a);
    let files: Vec<JsonFile> = inv
        .files
        .iter()
        .enumerate()
        .filter(|(id, _)| shipped[*id])
        .filter_map(|(id, file)| {
            let g = group_of[id]?;
            let module_usage = file.owner.map(|m| usage.of(m));
            Some(JsonFile {
                path: &file.rel,
                root: inv.roots[file.root].kind,
                distribution: file.dist.map(|d| inv.dists[d].name.as_str()),
                module: file.owner.map(|m| inv.modules[m].name.as_str()),
                bytes: file.size,
                kind: file.kind.label(),
                group: g,
                tier: plan.tiers[g],
                usage: module_usage.map_or(groups[g].usage, |u| u.usage),
                usage_reason: module_usage.map_or("", |u| u.reason.as_str()),
            })
        })
        .collect();
    let doc = serde_json::json!({
        "handler": a.unit.handler(),
        "feasible": true,
        "plan": plan,
        "groups": json_plan(plan, groups).groups,
        "emitted": emitted,
        "lazy_bindings": lazy,
        // The tier figures the plan was solved with (caios-pack.yaml's
        // `tiers` over the defaults): what a benchmark of the artifacts
        // must reproduce to test the model.
        "model": {"tiers": &a.unit.tiers},
        "package_limit_bytes": crate::emit::package_limit(a),
        "files": files,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

pub fn infeasible_message(i: &Infeasible) -> String {
    let min = match i.min_latency_ms {
        Some(ms) => format!(
            "; the smallest achievable cold start is {ms:.0} ms (pass --max-latency {}ms or more)",
            ms.ceil()
        ),
        None => String::new(),
    };
    format!("the constraints cannot be met: {} binds{min}", i.binding)
}

pub fn infeasible_json(i: &Infeasible) -> String {
    serde_json::json!({"feasible": false, "binding": i.binding, "min_latency_ms": i.min_latency_ms})
        .to_string()
}
