//! plan MILP: the placement as a mixed-integer program, solved by HiGHS.
//!
//! Input: the groups, the [`Settings`], an objective, an optional latency
//! bound and start. Output: the value of every `x[g,t]` and the objective,
//! or why there is none (infeasible, timed out, solver error).
//!
//! The model (docs/model.md has the derivation):
//!
//! - binary `x[g,t]`, one tier per group; binary `e` = "EFS used";
//! - local bytes ≤ `limits.local_bytes`; bytes of S3 groups that may be
//!   fetched ≤ `limits.tmp_bytes`;
//! - cold start `L = Σ p_g·import_g` (every loaded group is imported)
//!   `+ Σ_{efs} efb·(ops·files_g + dirs_g) + bytes_g/ethr` over the files
//!   init reads from the group (EFS round trips and reads)
//!   `+ Σ_{s3, p>0} p_g·all_files_g·per_file + X`, `X ≥ Σ_{s3, p>0} E_g /
//!   par`, `X ≥ E_g` for each such group, `E_g = p_g·bytes_g/extract`
//!   (extraction: CPU work imports do not hide; creating files holds the
//!   GIL, inflating does not, so bundles inflate side by side on `par` =
//!   min(vCPUs, k), at least 1, with vCPUs = memory / 1,769 MB)
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

use super::cost::{coefficients, extract_parallelism, Coefficients};
use super::per_tier::PerTier;
use super::{Group, Settings};
use crate::config::TierName;
use good_lp::solvers::highs::HighsProblem;
use good_lp::{
    constraint, variable, Expression, ProblemVariables, Solution, SolverModel, Variable,
};
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
pub(super) enum Objective {
    Cost { billed_per_ms: f64 },
    Latency,
}

/// Why a solve gave no plan.
#[derive(Debug)]
pub(super) enum SolveError {
    Infeasible,
    /// No answer within our own wall-clock limit.
    Timeout(String),
    Other(String),
}

/// A solver answer: the value of every `x[g,t]`, the objective, the status.
pub(super) struct Solved {
    pub(super) values: Vec<PerTier<Option<f64>>>,
    pub(super) objective: f64,
    pub(super) status: String,
}

/// Builds and solves the program; `relaxed` drops integrality (its optimum
/// bounds the integer one from below, which gives the gap).
pub(super) fn solve(
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
    let x: Vec<PerTier<Option<Variable>>> = groups
        .iter()
        .map(|g| PerTier::from_fn(|t| s.tier_allowed(g, t).then(|| vars.add(decision()))))
        .collect();
    let efs_used = vars.add(decision());
    // 1 when init fetches anything from S3: the importer then imports boto3
    // and creates its client during init, a fixed cost.
    let s3_at_init = vars.add(decision());
    let unhidden = vars.add(variable().min(0.0));
    // Wall time of the extractions at init (cost::extraction_ms).
    let extracting = vars.add(variable().min(0.0));
    let coeff: Vec<PerTier<Coefficients>> = groups
        .iter()
        .map(|g| PerTier::from_fn(|t| coefficients(s, g, t)))
        .collect();
    let sum = |f: &dyn Fn(&Coefficients) -> f64| -> Expression {
        let mut e = Expression::from(0.0);
        for (g, vs) in x.iter().enumerate() {
            for (t, v) in vs.iter() {
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
    let latency =
        sum(&|c| c.latency_ms) + extracting + unhidden + s.tiers.s3_client_ms * s3_at_init;
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
            .filter_map(|(_, v)| *v)
            .fold(Expression::from(0.0), |e, v| e + v);
        model = model.with(constraint!(chosen == 1.0));
        if let Some(v) = vs.efs {
            model = model.with(constraint!(efs_used >= v));
        }
    }
    model = model.with(constraint!(
        extracting >= sum(&|c| c.extract_ms) * (1.0 / extract_parallelism(s))
    ));
    for (g, vs) in x.iter().enumerate() {
        if let (Some(v), true) = (vs.s3, coeff[g].s3.extract_ms > 0.0) {
            model = model.with(constraint!(extracting >= coeff[g].s3.extract_ms * v));
        }
        if let (Some(v), true) = (vs.s3, coeff[g].s3.download_ms > 0.0) {
            model = model.with(constraint!(s3_at_init >= v));
            model = model.with(constraint!(unhidden >= coeff[g].s3.wait_floor_ms * v));
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
        model =
            good_lp::WithInitialSolution::with_initial_solution(model, initial_solution(&x, start));
    }
    let model = model
        .set_time_limit(s.time_limit.as_secs_f64())
        .set_threads(1);
    solve_within(model, x, objective_value, s.time_limit)
}

/// `start` as a value for every `x[g,t]`: 1 on the group's tier, else 0.
fn initial_solution(x: &[PerTier<Option<Variable>>], start: &[TierName]) -> Vec<(Variable, f64)> {
    let mut initial: Vec<(Variable, f64)> = Vec::new();
    for (g, vs) in x.iter().enumerate() {
        for (t, v) in vs.iter() {
            if let Some(v) = v {
                initial.push((*v, f64::from(u8::from(t == start[g]))));
            }
        }
    }
    initial
}

/// Solves `model` on a thread and waits at most `time_limit` and a grace
/// period: HiGHS can overshoot its own time limit, so we wait on our own
/// clock.
fn solve_within(
    model: HighsProblem,
    x: Vec<PerTier<Option<Variable>>>,
    objective: Expression,
    time_limit: Duration,
) -> std::result::Result<Solved, SolveError> {
    let started = Instant::now();
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let result = model.solve().map(|solution| Solved {
            values: x
                .iter()
                .map(|vs| vs.map(|v| v.map(|v| solution.value(v))))
                .collect(),
            objective: solution.eval(&objective),
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
    let grace = time_limit + Duration::from_secs(2);
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
pub(super) fn integral_tiers(values: &[PerTier<Option<f64>>]) -> Option<Vec<TierName>> {
    values
        .iter()
        .map(|vs| {
            let mut chosen = None;
            for (t, v) in vs.iter() {
                match v {
                    Some(v) if (v - 1.0).abs() < 1e-6 => chosen = Some(t),
                    Some(v) if v.abs() < 1e-6 => {}
                    Some(_) => return None,
                    None => {}
                }
            }
            chosen
        })
        .collect()
}
