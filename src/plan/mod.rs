//! plan: places every group on a tier by solving a mixed-integer program.
//!
//! Input: the [`Group`]s and the unit's [`Model`] settings (tiers, limits,
//! workload, budget). Output: a [`Plan`] — a tier per group, the S3 groups to
//! prefetch, the modelled cold start and first-invocation latency, the monthly
//! cost broken down, and the regime in words; or, when the budget cannot be
//! met, which limit binds and the smallest achievable latency.
//!
//! The model (docs/model.md has the derivation):
//!
//! - binary `x[g,t]`, one tier per group; binary `e` = "EFS used";
//! - local bytes ≤ `limits.local_bytes`; bytes of S3 groups that may be
//!   fetched ≤ `limits.tmp_bytes`;
//! - cold start `L = Σ p_g·import_g` (every loaded group is imported)
//!   `+ Σ_{efs} efb·(ops·files_g + dirs_g) + bytes_g/ethr` over the files
//!   init reads from the group (EFS round trips and reads)
//!   `+ Σ_{s3, p>0} p_g·(bytes_g/extract + all_files_g·per_file)`
//!   (extraction: CPU work nothing hides)
//!   `+ w + c·client`, with `w ≥ D − O`, `w ≥ sfb + zip·bytes_g/sthr` for
//!   each S3 group needed at init, `w ≥ 0`: S3 groups needed at init are
//!   prefetched by a background thread from the start of init over `k`
//!   connections that share the link, `D = Σ_{s3, p>0} sfb/k +
//!   zip·bytes_g/sthr`; the download overlaps with the imports of local
//!   groups, `O = Σ_{local} p_g·import_g`; only what it does not overlap
//!   adds to init;
//! - `L ≤ max_latency`;
//! - minimise storage + requests + EFS reads + `e`·EFS fixed cost + billed
//!   INIT (cold starts × L × memory × price; zero with SnapStart).

pub mod groups;
pub mod layout;
pub mod located;

pub use groups::Group;

use crate::config::Unit;
use crate::error::{Error, Result};
use crate::model::TierName;
use good_lp::{
    constraint, variable, Expression, ProblemVariables, Solution, SolverModel, Variable,
};
use serde::Serialize;
use std::time::{Duration, Instant};

const GB: f64 = 1e9;

/// Everything the optimiser needs besides the groups.
#[derive(Debug, Clone)]
pub struct Settings {
    pub local_limit: u64,
    pub tmp_limit: u64,
    pub max_latency_ms: Option<f64>,
    pub max_monthly_usd: Option<f64>,
    pub tiers: crate::model::Tiers,
    pub workload: crate::model::Workload,
    pub time_limit: Duration,
}

impl Settings {
    /// From the unit's YAML, with `--max-latency` taking precedence.
    pub fn from_unit(
        unit: &Unit,
        max_latency: Option<&str>,
        time_limit: Duration,
        reserved: u64,
    ) -> Result<Settings> {
        let latency_text = max_latency
            .map(String::from)
            .or(unit.budget.max_latency.clone());
        let max_latency_ms = match latency_text {
            Some(text) => Some(crate::model::parse_duration_ms(&text).ok_or_else(|| {
                Error::input(format!(
                    "max latency `{text}` is not a duration such as 800ms or 1.5s"
                ))
            })?),
            None => None,
        };
        if unit.limits.package_bytes() > crate::model::LAMBDA_UNZIPPED_LIMIT {
            eprintln!(
                "caios-pack: warning: limits.package_bytes ({}) is above Lambda's {} bytes: a what-if; such a deployment.zip does not deploy",
                unit.limits.package_bytes(),
                crate::model::LAMBDA_UNZIPPED_LIMIT
            );
        }
        let available = unit
            .limits
            .package_bytes()
            .saturating_sub(unit.limits.layers_bytes)
            .saturating_sub(reserved);
        let local_limit = unit.limits.local_bytes.unwrap_or(available).min(available);
        let mut tmp_limit = unit.limits.tmp_bytes;
        if unit.workload.snapstart {
            tmp_limit = tmp_limit.min(crate::model::DEFAULT_TMP_BYTES);
        }
        Ok(Settings {
            local_limit,
            tmp_limit,
            max_latency_ms,
            max_monthly_usd: unit.budget.max_monthly_usd,
            tiers: unit.tiers.clone(),
            workload: unit.workload.clone(),
            time_limit,
        })
    }

    fn tier_allowed(&self, group: &Group, tier: TierName) -> bool {
        if tier == TierName::S3 && group.not_on_s3.is_some() {
            return false;
        }
        if let Some(pinned) = group.pinned {
            return pinned == tier;
        }
        !(self.workload.snapstart && tier == TierName::Efs)
    }
}

/// A group's figures on one tier, all linear in the decision variables.
#[derive(Debug, Clone, Copy, Default)]
struct Coefficients {
    /// Cold-start milliseconds added directly.
    latency_ms: f64,
    /// Milliseconds of prefetch download (S3 at init), before overlap.
    download_ms: f64,
    /// Milliseconds of import that overlap a prefetch (local groups).
    overlap_ms: f64,
    /// The least an S3 group needed at init makes init wait: its bundle
    /// comes over one connection and is extracted before its first import,
    /// which may come early in init, so no import time is counted as overlap.
    wait_floor_ms: f64,
    /// Of `latency_ms`: EFS round trips and reads at init.
    efs_read_ms: f64,
    /// Monthly $ besides billed INIT.
    usd: f64,
    local_bytes: f64,
    tmp_bytes: f64,
    /// Expected milliseconds added to the first invocation that needs it.
    first_invocation_ms: f64,
}

fn coefficients(s: &Settings, g: &Group, tier: TierName) -> Coefficients {
    let p = g.init_probability;
    let bytes = g.bytes as f64;
    let files = g.files.len() as f64;
    let w = &s.workload;
    // Containers that ever need the group: init, or a later invocation.
    let per_container = (g.invocation_probability * w.invocations_per_month
        / w.cold_starts_per_month.max(1.0))
    .min(1.0);
    let fetch_probability = (p * if w.snapstart { 0.0 } else { 1.0 }).max(per_container);
    // With SnapStart, init (imports and init-time fetches into /tmp) runs
    // once per published version and every cold start restores it.
    let per_cold_start = if w.snapstart { 0.0 } else { 1.0 };
    let p = p * per_cold_start;
    let mut c = Coefficients {
        latency_ms: p * g.import_ms,
        ..Coefficients::default()
    };
    match tier {
        TierName::Local => {
            c.local_bytes = bytes;
            c.overlap_ms = p * g.import_ms;
        }
        TierName::Efs => {
            let t = &s.tiers.efs;
            let ops = s.tiers.efs_ops_per_file;
            let throughput = t.throughput_mb_s.max(1e-9) * 1e3;
            // Init reads only what it loads: the files of its modules, the
            // data it opens and the libraries its extensions link, each a
            // few round trips (lookup, open, attributes) plus a lookup per
            // folder on the way; not every file the group holds.
            c.efs_read_ms = per_cold_start
                * (t.first_byte_ms * (ops * g.init_files + g.init_dirs)
                    + g.init_bytes / throughput);
            c.latency_ms += c.efs_read_ms;
            let read_ms = files * ops * t.first_byte_ms + bytes / throughput;
            c.first_invocation_ms = g.invocation_probability * (read_ms + g.import_ms);
            c.usd = bytes / GB * t.storage_usd_per_gb_month
                + fetch_probability * w.cold_starts_per_month * bytes / GB * t.read_usd_per_gb;
        }
        TierName::S3 => {
            let t = &s.tiers.s3;
            let k = f64::from(s.tiers.s3_prefetch_connections.max(1));
            let zipped = bytes * s.tiers.s3_zip_ratio;
            let transfer_ms = zipped / (t.throughput_mb_s.max(1e-9) * 1e3);
            let extract_ms = bytes / (s.tiers.s3_extract_mb_s.max(1e-9) * 1e3)
                + files * s.tiers.s3_extract_file_ms;
            let fetch_ms = t.first_byte_ms + transfer_ms + extract_ms;
            if p > 0.0 {
                // k connections wait for their first bytes in parallel but
                // share the function's link, so the transfer is not divided
                // by k; that download overlaps the local imports.
                c.download_ms = t.first_byte_ms / k + transfer_ms;
                // Extraction is the prefetch thread's CPU work (inflating,
                // creating files from Python): it competes with the imports
                // for the interpreter and the CPU, so nothing hides it.
                c.latency_ms += p * extract_ms;
                // One bundle comes over one connection before its first
                // import, which may come early in init.
                c.wait_floor_ms = t.first_byte_ms + transfer_ms;
            }
            if g.init_probability > 0.0 {
                c.tmp_bytes = bytes; // fetched at init (with SnapStart: into the snapshot)
            }
            c.first_invocation_ms = g.invocation_probability * (fetch_ms + g.import_ms);
            if fetch_probability > 0.0 {
                c.tmp_bytes = bytes;
            }
            let requests = fetch_probability * w.cold_starts_per_month;
            c.usd = bytes / GB * t.storage_usd_per_gb_month
                + requests / 1000.0 * t.usd_per_1000_requests;
        }
    }
    c
}

/// The solved placement.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub tiers: Vec<TierName>,
    /// Groups on S3 the importer prefetches at the start of init.
    pub prefetch: Vec<usize>,
    pub cold_start_ms: f64,
    /// Of `cold_start_ms`: EFS round trips and reads (the rest of the EFS
    /// share is its modules' import time).
    pub efs_read_ms: f64,
    /// Expected extra milliseconds on the first invocation of a container.
    pub first_invocation_ms: f64,
    pub cost: Cost,
    pub bytes: TierBytes,
    /// Per tier: what its groups add to the cold start and the monthly bill.
    pub per_tier: Vec<TierShare>,
    pub regime: String,
    /// `optimal`, `time-limit (gap …)`, or `greedy` when the solver gave
    /// nothing usable in time.
    pub status: String,
    pub local_limit: u64,
    pub tmp_limit: u64,
    pub max_latency_ms: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Cost {
    pub storage_usd: f64,
    pub requests_and_reads_usd: f64,
    pub efs_fixed_usd: f64,
    pub billed_init_usd: f64,
    pub total_usd: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TierShare {
    pub tier: TierName,
    pub groups: usize,
    pub bytes: u64,
    /// Imports, EFS reads, and for S3 the prefetch time imports do not hide.
    pub cold_start_ms: f64,
    /// Storage, requests and reads (billed INIT and EFS fixed are separate).
    pub monthly_usd: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TierBytes {
    pub local: u64,
    pub efs: u64,
    pub s3: u64,
    /// S3 bytes that may be fetched into /tmp.
    pub tmp: u64,
}

/// Why no plan meets the constraints.
#[derive(Debug, Clone, Serialize)]
pub struct Infeasible {
    pub binding: String,
    /// The smallest cold start any placement within the size limits achieves.
    pub min_latency_ms: Option<f64>,
}

/// Solves the placement.
pub fn optimize(groups: &[Group], s: &Settings) -> std::result::Result<Plan, Infeasible> {
    let billed_per_ms = if s.workload.snapstart {
        0.0
    } else {
        s.workload.cold_starts_per_month * s.workload.memory_mb / 1024.0
            * s.workload.usd_per_gb_second()
            / 1000.0
    };
    let greedy = greedy(groups, s);
    let objective = Objective::Cost { billed_per_ms };
    match solve(
        groups,
        s,
        objective,
        s.max_latency_ms,
        greedy.as_deref(),
        false,
    ) {
        Ok(solved) => match integral_tiers(&solved.values) {
            Some(tiers) => {
                let bound = solve(groups, s, objective, s.max_latency_ms, None, true).ok();
                let gap = bound.map(|b| {
                    (solved.objective - b.objective).max(0.0) / solved.objective.abs().max(1e-12)
                });
                let status = match gap {
                    Some(gap) => format!(
                        "{} (HiGHS); ${:.4}/month; gap to the LP relaxation's bound {:.2}% (an upper bound on the true gap)",
                        solved.status,
                        solved.objective,
                        100.0 * gap
                    ),
                    None => format!("{} (HiGHS); ${:.4}/month", solved.status, solved.objective),
                };
                Ok(evaluate(groups, s, tiers, status))
            }
            None => fallback(groups, s, greedy, "the solver's answer was not integral"),
        },
        Err(SolveError::Timeout(why)) | Err(SolveError::Other(why)) => {
            fallback(groups, s, greedy, &why)
        }
        Err(SolveError::Infeasible) => Err(diagnose(groups, s)),
    }
}

/// The greedy plan when the solver gives nothing usable, else the diagnosis.
fn fallback(
    groups: &[Group],
    s: &Settings,
    greedy: Option<Vec<TierName>>,
    why: &str,
) -> std::result::Result<Plan, Infeasible> {
    match greedy {
        Some(tiers) => Ok(evaluate(
            groups,
            s,
            tiers,
            format!("greedy plan ({why}); not proven optimal"),
        )),
        None => Err(diagnose(groups, s)),
    }
}

#[derive(Clone, Copy)]
enum Objective {
    Cost { billed_per_ms: f64 },
    Latency,
}

/// Why a solve gave no plan.
#[derive(Debug)]
enum SolveError {
    Infeasible,
    /// No answer within our own wall-clock limit.
    Timeout(String),
    Other(String),
}

/// A solver answer: the value of every `x[g,t]`, the objective, the status.
struct Solved {
    values: Vec<[Option<f64>; 3]>,
    objective: f64,
    status: String,
}

/// Builds and solves the program; `relaxed` drops integrality (its optimum
/// bounds the integer one from below, which gives the gap).
fn solve(
    groups: &[Group],
    s: &Settings,
    objective: Objective,
    max_latency_ms: Option<f64>,
    start: Option<&[TierName]>,
    relaxed: bool,
) -> std::result::Result<Solved, SolveError> {
    let mut vars = ProblemVariables::new();
    let decision = || {
        if relaxed {
            variable().min(0.0).max(1.0)
        } else {
            variable().binary()
        }
    };
    let x: Vec<[Option<Variable>; 3]> = groups
        .iter()
        .map(|g| TierName::ALL.map(|t| s.tier_allowed(g, t).then(|| vars.add(decision()))))
        .collect();
    let efs_used = vars.add(decision());
    // 1 when init fetches anything from S3: the importer then imports boto3
    // and creates its client during init, a fixed cost.
    let s3_at_init = vars.add(decision());
    let unhidden = vars.add(variable().min(0.0));
    let coeff: Vec<[Coefficients; 3]> = groups
        .iter()
        .map(|g| TierName::ALL.map(|t| coefficients(s, g, t)))
        .collect();
    let sum = |f: &dyn Fn(&Coefficients) -> f64| -> Expression {
        let mut e = Expression::from(0.0);
        for (g, vs) in x.iter().enumerate() {
            for (t, v) in vs.iter().enumerate() {
                if let Some(v) = v {
                    let value = f(&coeff[g][t]);
                    if value != 0.0 {
                        e += value * *v;
                    }
                }
            }
        }
        e
    };
    let latency = sum(&|c| c.latency_ms) + unhidden + s.tiers.s3_client_ms * s3_at_init;
    let usd = sum(&|c| c.usd);
    let objective_expr = match objective {
        Objective::Cost { billed_per_ms } => {
            usd.clone()
                + s.tiers.efs_fixed_usd_per_month * efs_used
                + billed_per_ms * latency.clone()
        }
        Objective::Latency => latency.clone(),
    };
    let objective_value = objective_expr.clone();
    let mut model = vars
        .minimise(objective_expr)
        .using(good_lp::solvers::highs::highs);
    for vs in &x {
        let chosen: Expression = vs
            .iter()
            .flatten()
            .fold(Expression::from(0.0), |e, v| e + *v);
        model = model.with(constraint!(chosen == 1.0));
        if let Some(v) = vs[1] {
            model = model.with(constraint!(efs_used >= v));
        }
    }
    for (g, vs) in x.iter().enumerate() {
        if let (Some(v), true) = (vs[2], coeff[g][2].download_ms > 0.0) {
            model = model.with(constraint!(s3_at_init >= v));
            model = model.with(constraint!(unhidden >= coeff[g][2].wait_floor_ms * v));
        }
    }
    model = model.with(constraint!(sum(&|c| c.local_bytes) <= s.local_limit as f64));
    model = model.with(constraint!(sum(&|c| c.tmp_bytes) <= s.tmp_limit as f64));
    model = model.with(constraint!(
        unhidden >= sum(&|c| c.download_ms) - sum(&|c| c.overlap_ms)
    ));
    if let Some(max) = max_latency_ms {
        model = model.with(constraint!(latency.clone() <= max));
    }
    if let (Some(max_usd), Objective::Cost { billed_per_ms }) = (s.max_monthly_usd, objective) {
        model = model.with(constraint!(
            usd + s.tiers.efs_fixed_usd_per_month * efs_used + billed_per_ms * latency <= max_usd
        ));
    }
    if let Some(start) = start {
        let mut initial: Vec<(Variable, f64)> = Vec::new();
        for (g, vs) in x.iter().enumerate() {
            for (t, v) in vs.iter().enumerate() {
                if let Some(v) = v {
                    initial.push((*v, f64::from(u8::from(TierName::ALL[t] == start[g]))));
                }
            }
        }
        model = good_lp::WithInitialSolution::with_initial_solution(model, initial);
    }
    let model = model
        .set_time_limit(s.time_limit.as_secs_f64())
        .set_threads(1);
    let started = Instant::now();
    // HiGHS can overshoot its own time limit; wait on our own clock.
    let (send, receive) = std::sync::mpsc::channel();
    let x_for_thread = x.clone();
    std::thread::spawn(move || {
        let result = model.solve().map(|solution| Solved {
            values: x_for_thread
                .iter()
                .map(|vs| vs.map(|v| v.map(|v| solution.value(v))))
                .collect(),
            objective: solution.eval(&objective_value),
            status: match solution.status() {
                good_lp::SolutionStatus::Optimal => "optimal".to_string(),
                good_lp::SolutionStatus::GapLimit => {
                    "optimal within HiGHS's gap tolerance".to_string()
                }
                good_lp::SolutionStatus::TimeLimit => "stopped by the time limit".to_string(),
            },
        });
        let _ = send.send(result);
    });
    let grace = s.time_limit + Duration::from_secs(2);
    match receive.recv_timeout(grace) {
        Ok(Ok(solved)) => Ok(solved),
        Ok(Err(good_lp::ResolutionError::Infeasible)) => Err(SolveError::Infeasible),
        Ok(Err(e)) => Err(SolveError::Other(e.to_string())),
        Err(_) => Err(SolveError::Timeout(format!(
            "no answer from HiGHS within {:.1?}",
            started.elapsed()
        ))),
    }
}

/// The tier of each group, if every binary is within 1e-6 of 0 or 1.
fn integral_tiers(values: &[[Option<f64>; 3]]) -> Option<Vec<TierName>> {
    values
        .iter()
        .map(|vs| {
            let mut chosen = None;
            for (t, v) in vs.iter().enumerate() {
                match v {
                    Some(v) if (v - 1.0).abs() < 1e-6 => chosen = Some(TierName::ALL[t]),
                    Some(v) if v.abs() < 1e-6 => {}
                    Some(_) => return None,
                    None => {}
                }
            }
            chosen
        })
        .collect()
}

/// A feasible start: hot groups local (most init time per byte first) while
/// they fit, everything else on S3; `None` if even that breaks a limit.
fn greedy(groups: &[Group], s: &Settings) -> Option<Vec<TierName>> {
    let mut tiers: Vec<TierName> = groups
        .iter()
        .map(|g| match (g.pinned, &g.not_on_s3) {
            (Some(tier), _) if s.tier_allowed(g, tier) => tier,
            (_, Some(_)) => TierName::Local,
            _ => TierName::S3,
        })
        .collect();
    let mut local: u64 = groups
        .iter()
        .zip(&tiers)
        .filter(|(_, t)| **t == TierName::Local)
        .map(|(g, _)| g.bytes)
        .sum();
    let mut order: Vec<usize> = (0..groups.len())
        .filter(|&g| groups[g].pinned.is_none() && groups[g].not_on_s3.is_none())
        .collect();
    order.sort_by(|&a, &b| {
        let score = |g: &Group| (g.init_probability * (1.0 + g.import_ms)) / (g.bytes as f64 + 1.0);
        score(&groups[b]).total_cmp(&score(&groups[a]))
    });
    for g in order {
        if local + groups[g].bytes <= s.local_limit {
            tiers[g] = TierName::Local;
            local += groups[g].bytes;
        }
    }
    let plan = evaluate(groups, s, tiers.clone(), String::new());
    let fits = plan.bytes.tmp <= s.tmp_limit
        && plan.bytes.local <= s.local_limit
        && s.max_latency_ms
            .is_none_or(|m| plan.cold_start_ms <= m + 1e-6);
    fits.then_some(tiers)
}

struct ClientCost {
    at_init: f64,
    first_invocation: f64,
}

fn s3_client_ms(
    groups: &[Group],
    tiers: &[TierName],
    s: &Settings,
    fetched_at_init: bool,
) -> ClientCost {
    let ms = s.tiers.s3_client_ms;
    if fetched_at_init {
        return ClientCost {
            at_init: ms,
            first_invocation: 0.0,
        };
    }
    let later = groups
        .iter()
        .zip(tiers)
        .filter(|(_, t)| **t == TierName::S3)
        .map(|(g, _)| g.invocation_probability)
        .fold(0.0, f64::max);
    ClientCost {
        at_init: 0.0,
        first_invocation: ms * later,
    }
}

/// Recomputes every figure of a placement.
pub fn evaluate(groups: &[Group], s: &Settings, tiers: Vec<TierName>, status: String) -> Plan {
    let mut latency = 0.0;
    let mut efs_read = 0.0;
    let mut first = 0.0;
    let mut bytes = TierBytes::default();
    let mut cost = Cost::default();
    let mut prefetch = Vec::new();
    let mut per_tier: Vec<TierShare> = TierName::ALL
        .iter()
        .map(|&tier| TierShare {
            tier,
            groups: 0,
            bytes: 0,
            cold_start_ms: 0.0,
            monthly_usd: 0.0,
        })
        .collect();
    for (g, (group, tier)) in groups.iter().zip(&tiers).enumerate() {
        let c = coefficients(s, group, *tier);
        let share = &mut per_tier[TierName::ALL.iter().position(|t| t == tier).unwrap_or(0)];
        share.groups += 1;
        share.bytes += group.bytes;
        share.cold_start_ms += c.latency_ms;
        share.monthly_usd += c.usd;
        latency += c.latency_ms;
        efs_read += c.efs_read_ms;
        first += c.first_invocation_ms;
        bytes.tmp += c.tmp_bytes as u64;
        match tier {
            TierName::Local => bytes.local += group.bytes,
            TierName::Efs => bytes.efs += group.bytes,
            TierName::S3 => bytes.s3 += group.bytes,
        }
        if *tier == TierName::S3 && c.download_ms > 0.0 {
            prefetch.push(g);
        }
        let storage = match tier {
            TierName::Local => 0.0,
            TierName::Efs => group.bytes as f64 / GB * s.tiers.efs.storage_usd_per_gb_month,
            TierName::S3 => group.bytes as f64 / GB * s.tiers.s3.storage_usd_per_gb_month,
        };
        cost.storage_usd += storage;
        cost.requests_and_reads_usd += c.usd - storage;
    }
    // What imports do not hide of the S3 work goes to the S3 tier's share;
    // the S3 client is paid at init when init fetches, else by the first
    // invocation that does.
    let total = cold_start_ms(groups, &tiers, s);
    let unhidden = total - latency;
    latency = total;
    first += s3_client_ms(groups, &tiers, s, !prefetch.is_empty()).first_invocation;
    per_tier[2].cold_start_ms += unhidden;
    if bytes.efs > 0 {
        cost.efs_fixed_usd = s.tiers.efs_fixed_usd_per_month;
    }
    if !s.workload.snapstart {
        cost.billed_init_usd =
            s.workload.cold_starts_per_month * latency / 1000.0 * s.workload.memory_mb / 1024.0
                * s.workload.usd_per_gb_second();
    }
    cost.total_usd =
        cost.storage_usd + cost.requests_and_reads_usd + cost.efs_fixed_usd + cost.billed_init_usd;
    let regime = regime(groups, &tiers, &bytes, s, prefetch.len());
    Plan {
        tiers,
        prefetch,
        cold_start_ms: latency,
        efs_read_ms: efs_read,
        first_invocation_ms: first,
        cost,
        bytes,
        per_tier,
        regime,
        status,
        local_limit: s.local_limit,
        tmp_limit: s.tmp_limit,
        max_latency_ms: s.max_latency_ms,
    }
}

fn regime(
    groups: &[Group],
    tiers: &[TierName],
    bytes: &TierBytes,
    s: &Settings,
    prefetched: usize,
) -> String {
    let total: u64 = groups.iter().map(|g| g.bytes).sum();
    if bytes.efs == 0 && bytes.s3 == 0 {
        return format!(
            "fits locally: all {} in the package (limit {})",
            crate::report::human_bytes(total),
            crate::report::human_bytes(s.local_limit)
        );
    }
    let hot_elsewhere = groups
        .iter()
        .zip(tiers)
        .any(|(g, t)| *t != TierName::Local && g.init_probability > 0.0);
    let pinned_off: Vec<&Group> = groups
        .iter()
        .zip(tiers)
        .filter(|(g, t)| **t != TierName::Local && g.pinned == Some(**t))
        .map(|(g, _)| g)
        .collect();
    let mut words = if hot_elsewhere && total <= s.local_limit && !pinned_off.is_empty() {
        format!(
            "the unit ({}) would fit the package ({}), but pins place {} group(s) ({}) off it",
            crate::report::human_bytes(total),
            crate::report::human_bytes(s.local_limit),
            pinned_off.len(),
            crate::report::human_bytes(pinned_off.iter().map(|g| g.bytes).sum())
        )
    } else if hot_elsewhere {
        format!(
            "the unit ({}) does not fit the package ({}): part of the cold set is off the package",
            crate::report::human_bytes(total),
            crate::report::human_bytes(s.local_limit)
        )
    } else {
        format!(
            "hot set local, the rest ({}) off the package",
            crate::report::human_bytes(bytes.efs + bytes.s3)
        )
    };
    if bytes.s3 > 0 {
        words.push_str(&format!(
            "; S3 holds {} ({prefetched} groups prefetched at init)",
            crate::report::human_bytes(bytes.s3)
        ));
    }
    if bytes.efs > 0 {
        let why = if efs_needed_for_budget(groups, tiers, s) {
            format!(
                "EFS needed because fetching its groups from S3 at init would break the {} budget",
                s.max_latency_ms
                    .map_or(String::new(), |m| format!("{m:.0} ms"))
            )
        } else {
            "EFS chosen for cost: its reads cost less than S3 requests plus the billed INIT time S3 would add".to_string()
        };
        words.push_str(&format!(
            "; {why}: EFS holds {}",
            crate::report::human_bytes(bytes.efs)
        ));
    }
    words
}

/// Whether moving the EFS groups to S3 would break the latency budget.
fn efs_needed_for_budget(groups: &[Group], tiers: &[TierName], s: &Settings) -> bool {
    let Some(max) = s.max_latency_ms else {
        return false;
    };
    // Every EFS group that may go to S3, moved there.
    let without_efs: Vec<TierName> = groups
        .iter()
        .zip(tiers)
        .map(|(g, &t)| match t {
            TierName::Efs if s.tier_allowed(g, TierName::S3) => TierName::S3,
            other => other,
        })
        .collect();
    cold_start_ms(groups, &without_efs, s) > max + 1e-6
}

/// The modelled cold start of a placement: imports and EFS reads, the S3
/// wait imports do not hide, and the S3 client when init fetches.
fn cold_start_ms(groups: &[Group], tiers: &[TierName], s: &Settings) -> f64 {
    let (mut latency, mut download, mut overlap, mut floor) = (0.0, 0.0, 0.0, 0.0f64);
    for (group, &tier) in groups.iter().zip(tiers) {
        let c = coefficients(s, group, tier);
        latency += c.latency_ms;
        download += c.download_ms;
        overlap += c.overlap_ms;
        floor = floor.max(c.wait_floor_ms);
    }
    let fetched_at_init = download > 0.0;
    latency
        + (download - overlap).max(floor).max(0.0)
        + s3_client_ms(groups, tiers, s, fetched_at_init).at_init
}

/// Which limit binds, and the smallest achievable cold start.
fn diagnose(groups: &[Group], s: &Settings) -> Infeasible {
    let min_latency = solve(groups, s, Objective::Latency, None, None, false)
        .ok()
        .and_then(|solved| integral_tiers(&solved.values))
        .map(|tiers| evaluate(groups, s, tiers, String::new()).cold_start_ms);
    let binding = match (min_latency, s.max_latency_ms) {
        (None, _) => {
            let pinned_local: u64 = groups
                .iter()
                .filter(|g| g.pinned == Some(TierName::Local))
                .map(|g| g.bytes)
                .sum();
            if pinned_local > s.local_limit {
                format!(
                    "groups pinned local need {} but the package limit is {}",
                    crate::report::human_bytes(pinned_local),
                    crate::report::human_bytes(s.local_limit)
                )
            } else {
                format!(
                    "no placement fits the package ({}) and /tmp ({}) limits{}",
                    crate::report::human_bytes(s.local_limit),
                    crate::report::human_bytes(s.tmp_limit),
                    if s.workload.snapstart {
                        " with SnapStart (no EFS, /tmp ≤ 512 MiB)"
                    } else {
                        ""
                    }
                )
            }
        }
        (Some(min), Some(max)) if min > max => {
            format!("the latency budget: {max:.0} ms is below the smallest achievable cold start, {min:.0} ms")
        }
        _ => "the monthly cost budget (max_monthly_usd)".to_string(),
    };
    Infeasible {
        binding,
        min_latency_ms: min_latency,
    }
}
