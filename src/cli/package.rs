//! `caios-pack package`: analyze + optimize + emit, with lazy bindings when
//! `verify` passes with them. Needs no AWS account: bundles stay in
//! `OUT/s3/` until `upload`.
//!
//! Input: the unit, its budget, optional statistics and events. Output:
//! deployment.zip, the EFS tree, the S3 bundles, the catalogue and
//! plan.json in `--out`, and a summary on stdout (`--check`: the summary
//! only, nothing written).

use super::optimize::OptimizeArgs;
use super::{analyze_reachable, build_groups, write_stdout, Format, Inputs};
use crate::analysis::Analysis;
use crate::config::LAMBDA_DIRECT_UPLOAD_LIMIT;
use crate::error::{Error, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct PackageArgs {
    #[command(flatten)]
    pub optimize: OptimizeArgs,
    /// Output folder.
    #[arg(long, default_value = "dist")]
    pub out: PathBuf,
    /// Bucket the bundles will be uploaded to (for the catalogue and the IAM
    /// policy; the importer also reads CAIOS_BUCKET).
    #[arg(long)]
    pub bucket: Option<String>,
    /// Key prefix of the bundles.
    #[arg(long, default_value = "caios/")]
    pub prefix: String,
    /// Where the function mounts the EFS access point.
    #[arg(long, default_value = "/mnt/caios")]
    pub efs_mount: String,
    /// Interpreter that compiles the .pyc files (the Lambda runtime's version).
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Also write OUT/report.html (see `caios-pack report`).
    #[arg(long, conflicts_with = "check")]
    pub report: bool,
    /// CI mode: write nothing; exit 0 when the unit fits and meets the
    /// budget, 1 with the reason when it does not (--format json: a summary).
    #[arg(long)]
    pub check: bool,
    /// Then run `verify` on these events (the format of `trace --events`);
    /// exit 1 on a difference, leaving the artifacts for inspection.
    #[arg(long, value_name = "FILE", conflicts_with = "check")]
    pub verify: Option<PathBuf>,
}

/// The patched modules a verify failure names, else all of them.
fn suspects(lazy: &crate::lazy_bindings::LazyBindings, difference: &str) -> String {
    let mut named = named_patched_modules(lazy, difference);
    if named.is_empty() {
        named = lazy.patches.iter().map(|p| p.module.clone()).collect();
        named.sort_unstable();
        named.dedup();
    }
    let more = named.len().saturating_sub(5);
    let mut text = named[..named.len().min(5)].join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    format!("patched modules: {text}")
}

/// The patched modules verify's difference names, sorted: in the packaged
/// run's traceback when it has one (its table of where modules loaded from
/// names every module, guilty or not).
fn named_patched_modules(
    lazy: &crate::lazy_bindings::LazyBindings,
    difference: &str,
) -> Vec<String> {
    let difference = difference
        .split_once("traceback of the packaged run:")
        .map_or(difference, |(_, traceback)| traceback);
    let mut named: Vec<String> = lazy
        .patches
        .iter()
        .map(|p| p.module.clone())
        .filter(|m| names_module(difference, m))
        .collect();
    named.sort_unstable();
    named.dedup();
    named
}

/// Whether `text` names `module` as a whole: as a dotted name (`a.b`, not
/// a prefix of `a.bc` or `a.b.c`) or as its file (`a/b.py`, `a/b/__init__.py`).
fn names_module(text: &str, module: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '.' || c == '/';
    text.split(|c: char| !word(c)).any(|token| {
        let token = token.trim_end_matches('.');
        let dotted = token
            .trim_end_matches(".py")
            .trim_end_matches("/__init__")
            .replace('/', ".");
        token == module || dotted == module || dotted.ends_with(&format!(".{module}"))
    })
}

pub fn run(args: &PackageArgs) -> Result<()> {
    let o = &args.optimize;
    let Inputs {
        unit,
        settings,
        stats,
    } = Inputs::read(o)?;
    // A bad events file fails before the analysis, as a bad --stats does.
    let verify_events = match &args.verify {
        Some(path) if !args.check => Some(crate::trace::load_events(path)?),
        _ => None,
    };
    let analysis = analyze_reachable(unit)?;
    let unpatched_usage = crate::usage::classify(&analysis, stats.as_ref());
    let mut lazy = crate::lazy_bindings::choose(&analysis, &unpatched_usage, stats.as_ref());
    for file in &lazy.unreadable {
        eprintln!("caios-pack: warning: {file}: not parsed, so left without lazy bindings");
    }
    if verify_events.is_none() && !lazy.patches.is_empty() {
        lazy.status = format!(
            "not applied: {} statements qualify, but lazy bindings are emitted only when `verify` passes with them (pass --verify EVENTS)",
            lazy.patches.len()
        );
    }
    // With patches, the plan places what they defer as deferred; should
    // verify reject them, the unpatched plan is made and emitted instead.
    let patching = verify_events.is_some() && !lazy.patches.is_empty();
    let usage = match (patching, stats.as_ref()) {
        (true, Some(stats)) => {
            crate::lazy_bindings::apply(&analysis, &unpatched_usage, stats, &lazy)
        }
        _ => unpatched_usage.clone(),
    };
    let groups = build_groups(&analysis, &usage);
    let mut options = crate::emit::EmitOptions {
        out: args.out.clone(),
        bucket: args.bucket.clone(),
        prefix: args.prefix.clone(),
        efs_mount: args.efs_mount.clone(),
        python: args.python.clone(),
        lazy_lines: if patching {
            lazy.lines()
        } else {
            Default::default()
        },
    };
    if args.check {
        // What --verify would make of it, should verify pass with the patches.
        let with_lazy_bindings = match stats.as_ref() {
            Some(stats) if !lazy.patches.is_empty() => {
                let patched = crate::lazy_bindings::apply(&analysis, &usage, stats, &lazy);
                crate::plan::smallest_cold_start(&build_groups(&analysis, &patched), &settings)
            }
            _ => None,
        };
        return check(
            &analysis,
            &usage,
            &groups,
            &settings,
            &options,
            o.format,
            with_lazy_bindings,
        );
    }
    let rounds = Rounds {
        args,
        analysis: &analysis,
        settings: &settings,
        verify_events: verify_events.as_deref(),
    };
    let mut round = rounds.run(usage, groups, &options)?;
    if !round.emitted.lazy_bindings.is_empty() {
        let failed = round.verification.as_ref().and_then(|v| v.difference());
        match failed {
            None => {
                lazy.status = format!(
                    "applied: {} statements, and verify passed with them",
                    round.emitted.lazy_bindings.len()
                )
            }
            Some(difference) => {
                // Never ship a patch verify rejects. The patches of the
                // modules verify's difference names go first; should verify
                // reject the others too, plan and emit unpatched.
                let suspects = suspects(&lazy, &difference);
                let named = named_patched_modules(&lazy, &difference);
                let mut salvaged = None;
                if let (Some(stats), false) = (stats.as_ref(), named.is_empty()) {
                    let retry = crate::lazy_bindings::choose_excluding(
                        &analysis,
                        &unpatched_usage,
                        Some(stats),
                        &named,
                    );
                    if !retry.patches.is_empty() {
                        eprintln!(
                            "caios-pack: warning: verify failed with lazy bindings ({suspects}); trying again without those of {}:\n{difference}",
                            named.join(", ")
                        );
                        options.lazy_lines = retry.lines();
                        let usage =
                            crate::lazy_bindings::apply(&analysis, &unpatched_usage, stats, &retry);
                        let groups = build_groups(&analysis, &usage);
                        // Any failure of this round (no plan, verify not
                        // run, a difference, nothing compiled) falls back
                        // to the unpatched round below, which rewrites
                        // every artifact.
                        match rounds.run(usage, groups, &options) {
                            Ok(again) if again.emitted.lazy_bindings.is_empty() => {}
                            Ok(again) => {
                                match again.verification.as_ref().and_then(|v| v.difference()) {
                                    None => salvaged = Some((retry, again)),
                                    Some(second) => eprintln!(
                                        "caios-pack: warning: verify failed again without them:\n{second}"
                                    ),
                                }
                            }
                            Err(e) => {
                                eprintln!("caios-pack: warning: the round without them failed: {e}")
                            }
                        }
                    }
                }
                match salvaged {
                    Some((retry, again)) => {
                        lazy = retry;
                        lazy.status = format!(
                            "applied: {} statements, and verify passed with them (those of {} withdrawn: verify failed with them)",
                            again.emitted.lazy_bindings.len(),
                            named.join(", ")
                        );
                        round = again;
                    }
                    None => {
                        eprintln!(
                            "caios-pack: warning: verify failed with lazy bindings ({suspects}); emitting the package without them:\n{difference}"
                        );
                        lazy.status = format!("withdrawn: verify failed with them ({suspects})");
                        options.lazy_lines.clear();
                        let groups = build_groups(&analysis, &unpatched_usage);
                        round = rounds.run(unpatched_usage, groups, &options)?;
                    }
                }
            }
        }
    } else if patching {
        lazy.status = "none applied: the compiler found none of the statements".into();
    } else if lazy.status.is_empty() {
        lazy.status = "none: no module-level import qualifies".into();
    }
    let plan_path = args.out.join("plan.json");
    std::fs::write(
        &plan_path,
        crate::report::optimize::package_json(
            &round.plan,
            &round.groups,
            &analysis,
            &round.usage,
            &round.emitted,
            &lazy,
        ),
    )
    .map_err(|e| Error::io(&plan_path, e))?;
    let report = if args.report {
        Some(super::report::write_report(&args.out, None)?)
    } else {
        None
    };
    let handler = analysis.unit.handler();
    write_stdout(&summary(args, &round, &handler, &lazy, report))?;
    match round.verification.as_ref().and_then(|v| v.difference()) {
        Some(message) => Err(Error::Failed(format!(
            "{message}\nthe artifacts stay in {} for inspection",
            args.out.display()
        ))),
        None => Ok(()),
    }
}

/// What plan → emit → verify start from, the same for both rounds (with
/// lazy bindings, and without them when verify rejects them).
struct Rounds<'a> {
    args: &'a PackageArgs,
    analysis: &'a Analysis,
    settings: &'a crate::plan::Settings,
    verify_events: Option<&'a [crate::trace::EventCase]>,
}

/// One round's plan, the artifacts it wrote and verify's verdict on them.
struct Round {
    usage: crate::usage::UsageTable,
    groups: Vec<crate::plan::Group>,
    plan: crate::plan::Plan,
    emitted: crate::emit::Emitted,
    verification: Option<crate::verify::Verification>,
}

impl Rounds<'_> {
    fn run(
        &self,
        usage: crate::usage::UsageTable,
        groups: Vec<crate::plan::Group>,
        options: &crate::emit::EmitOptions,
    ) -> Result<Round> {
        let plan = crate::plan::optimize(&groups, self.settings)
            .map_err(|i| Error::Infeasible(crate::report::optimize::infeasible_message(&i)))?;
        let input = crate::emit::EmitInput {
            analysis: self.analysis,
            usage: &usage,
            groups: &groups,
            plan: &plan,
        };
        let emitted = crate::emit::emit(&input, options)?;
        let verification = self
            .verify_events
            .map(|events| {
                crate::verify::run(
                    &self.analysis.unit,
                    events,
                    &crate::verify::VerifyOptions {
                        dist: self.args.out.clone(),
                        python: self.args.python.clone(),
                        event_timeout: crate::verify::DEFAULT_EVENT_TIMEOUT,
                    },
                )
            })
            .transpose()?;
        Ok(Round {
            usage,
            groups,
            plan,
            emitted,
            verification,
        })
    }
}

/// What `package` prints: the plan and the artifacts written (text), or
/// the plan, the artifacts and lazy bindings as JSON.
fn summary(
    args: &PackageArgs,
    round: &Round,
    handler: &str,
    lazy: &crate::lazy_bindings::LazyBindings,
    report: Option<PathBuf>,
) -> String {
    let Round {
        plan,
        groups,
        emitted,
        verification,
        ..
    } = round;
    let format = args.optimize.format;
    let mut summary = match format {
        Format::Json => {
            let mut doc =
                serde_json::json!({"plan": plan, "emitted": emitted, "lazy_bindings": lazy});
            if let Some(v) = verification {
                doc["verify"] = v.json();
            }
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        }
        Format::Text => format!(
            "{}\nlazy bindings: {}\nwrote {}:\n  deployment.zip  {} zipped, {} unzipped (Lambda handler: caios_entry.handler; {} .pyc compiled){}\n  s3/            {} bundles, {}\n  efs/           {} files, {} (digest {})\n  catalogue.json, plan.json, iam-policy.json, efs-manifest.yaml\n",
            crate::report::optimize::text(plan, groups, handler),
            lazy.status,
            args.out.display(),
            crate::report::human_bytes(emitted.zip_bytes),
            crate::report::human_bytes(emitted.zip_unzipped_bytes),
            emitted.pyc_compiled,
            if emitted.zip_bytes > LAMBDA_DIRECT_UPLOAD_LIMIT { " — over the 50 MB direct-upload limit: upload it through S3" } else { "" },
            emitted.bundles,
            crate::report::human_bytes(emitted.s3_bytes),
            emitted.efs_files,
            crate::report::human_bytes(emitted.efs_bytes),
            crate::contract::efs_tree_name(&emitted.efs_digest),
        ),
    };
    if let (Some(path), Format::Text) = (report, format) {
        summary.push_str(&format!("  report.html    {}\n", path.display()));
    }
    if let (Some(v), Format::Text) = (verification, format) {
        summary.push_str(&v.text());
    }
    summary
}

/// `package --check`: everything `package` computes, nothing written. Exit 0
/// when the unit fits and meets the budget, 1 with a one-line reason when
/// not; `--format json` prints a summary either way. `with_lazy_bindings`:
/// the smallest cold start once the lazy bindings that qualify apply (what
/// `package --verify` emits when verify passes with them), reported beside.
fn check(
    analysis: &Analysis,
    usage: &crate::usage::UsageTable,
    groups: &[crate::plan::Group],
    settings: &crate::plan::Settings,
    options: &crate::emit::EmitOptions,
    format: Format,
    with_lazy_bindings: Option<f64>,
) -> Result<()> {
    let limit = crate::emit::package_limit(analysis);
    if format == Format::Text {
        if let Some(ms) = with_lazy_bindings {
            eprintln!(
                "caios-pack: with the lazy bindings that qualify (package --verify applies them when verify passes), the smallest achievable cold start is {ms:.0} ms"
            );
        }
    }
    let fail = |reason: String, extra: serde_json::Value| -> Result<()> {
        if format == Format::Json {
            let mut doc = serde_json::json!({"fits": false, "reason": reason, "limit_bytes": limit,
                "min_latency_with_lazy_bindings_ms": with_lazy_bindings});
            if let (Some(doc), Some(extra)) = (doc.as_object_mut(), extra.as_object()) {
                doc.extend(extra.clone());
            }
            write_stdout(&format!("{doc:#}\n"))?;
        }
        Err(Error::Infeasible(reason))
    };
    let plan = match crate::plan::optimize(groups, settings) {
        Ok(plan) => plan,
        Err(i) => {
            return fail(
                crate::report::optimize::infeasible_message(&i),
                serde_json::json!({"binding": i.binding, "min_latency_ms": i.min_latency_ms}),
            )
        }
    };
    let input = crate::emit::EmitInput {
        analysis,
        usage,
        groups,
        plan: &plan,
    };
    let prepared = match crate::emit::prepare(&input, options) {
        Ok(prepared) => prepared,
        Err(Error::Infeasible(reason)) => {
            return fail(
                reason,
                serde_json::json!({"binding": "deployment package size"}),
            )
        }
        Err(other) => return Err(other),
    };
    let unzipped = prepared.unzipped_bytes;
    let budget = plan
        .max_latency_ms
        .map_or("no budget".to_string(), |m| format!("budget {m:.0} ms"));
    let output = match format {
        Format::Json => format!(
            "{:#}\n",
            serde_json::json!({
                "fits": true,
                "unzipped_bytes": unzipped,
                "limit_bytes": limit,
                "zip_bytes": prepared.zip_bytes(),
                "cold_start_ms": plan.cold_start_ms,
                "max_latency_ms": plan.max_latency_ms,
                "monthly_usd": plan.cost.total_usd,
                "bytes": plan.bytes,
                "regime": plan.regime,
                "solver": plan.status,
                "min_latency_with_lazy_bindings_ms": with_lazy_bindings,
            })
        ),
        Format::Text => format!(
            "ok: deployment.zip would unzip to {} of {} ({:.1}%), {} zipped{}; modelled cold start {:.0} ms ({budget}); ${:.2}/month\n",
            crate::report::human_bytes(unzipped),
            crate::report::human_bytes(limit),
            unzipped as f64 * 100.0 / limit.max(1) as f64,
            crate::report::human_bytes(prepared.zip_bytes()),
            if prepared.zip_bytes() > LAMBDA_DIRECT_UPLOAD_LIMIT { " (over 50 MB: deploy it through S3)" } else { "" },
            plan.cold_start_ms,
            plan.cost.total_usd
        ),
    };
    write_stdout(&output)
}

#[cfg(test)]
mod tests {
    use super::names_module;

    #[test]
    fn a_module_is_named_whole_not_as_a_prefix() {
        let cases = [
            (
                "ImportError: pandas.core.frame failed",
                "pandas.core.frame",
                true,
            ),
            (
                "ImportError: pandas.core.frame failed",
                "pandas.core",
                false,
            ),
            ("ImportError: pandas.core.frame failed", "pandas", false),
            ("in pandas.core. Then", "pandas.core", true),
            (
                "File \"/var/task/sklearn/base.py\", line 19",
                "sklearn.base",
                true,
            ),
            (
                "File \"env/sklearn/utils/__init__.py\"",
                "sklearn.utils",
                true,
            ),
            ("File \"env/sklearn/utils/__init__.py\"", "sklearn", false),
            ("scipy.statsmodels", "scipy.stats", false),
        ];
        for (text, module, expected) in cases {
            assert_eq!(
                names_module(text, module),
                expected,
                "{text:?} names {module}?"
            );
        }
    }
}
