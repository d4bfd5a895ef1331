//! Unit tests of the plan on hand-made groups and round tier figures, so
//! every expected number can be worked out on paper (the comments do).

use super::cost::{coefficients, cold_start_ms, Coefficients};
use super::greedy::greedy;
use super::milp::integral_tiers;
use super::per_tier::PerTier;
use super::*;
use crate::config::{Tier, Tiers, Workload};
use crate::usage::Usage;
use std::time::Duration;
use TierName::{Efs, Local, S3};

const MB: u64 = 1_000_000;

/// Round figures: 1 MB/s is 1000 bytes/ms, 1 MB is 0.001 GB.
fn settings() -> Settings {
    let tier = |first_byte_ms, storage, requests, read| Tier {
        first_byte_ms,
        throughput_mb_s: 1.0,
        storage_usd_per_gb_month: storage,
        usd_per_1000_requests: requests,
        read_usd_per_gb: read,
    };
    Settings {
        local_limit: 10 * MB,
        tmp_limit: 10 * MB,
        max_latency_ms: None,
        max_monthly_usd: None,
        tiers: Tiers {
            local: tier(0.0, 0.0, 0.0, 0.0),
            efs: tier(1.0, 1.0, 0.0, 0.1),
            s3: tier(10.0, 0.5, 0.01, 0.0),
            efs_fixed_usd_per_month: 0.0,
            s3_prefetch_connections: 2,
            s3_client_ms: 100.0,
            s3_zip_ratio: 0.5,
            s3_extract_mb_s: 2.0,
            s3_extract_file_ms: 1.0,
            efs_ops_per_file: 2.0,
        },
        workload: Workload {
            cold_starts_per_month: 1000.0,
            invocations_per_month: 1000.0,
            memory_mb: 1024.0,
            usd_per_gb_second: Some(0.0001),
            ..Workload::default()
        },
        time_limit: Duration::from_secs(30),
    }
}

/// 1 MB in 10 files; when init loads it, it reads 4 files in 2 folders,
/// 100 kB.
fn group(name: &str, init_probability: f64, invocation_probability: f64) -> Group {
    Group {
        name: name.to_string(),
        files: (0..10).collect(),
        bytes: MB,
        usage: if init_probability > 0.0 {
            Usage::Hot
        } else {
            Usage::Deferred
        },
        init_probability,
        invocation_probability,
        import_ms: 20.0,
        init_files: 4.0 * init_probability,
        init_dirs: 2.0 * init_probability,
        init_bytes: 100_000.0 * init_probability,
        pinned: None,
        pin_reason: None,
        not_on_s3: None,
    }
}

fn hot() -> Group {
    group("hot", 1.0, 0.5)
}

fn cold() -> Group {
    group("cold", 0.0, 0.1)
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "{what}: {actual} != {expected}"
    );
}

fn assert_coefficients(actual: Coefficients, expected: Coefficients, case: &str) {
    let fields = [
        ("latency_ms", actual.latency_ms, expected.latency_ms),
        ("download_ms", actual.download_ms, expected.download_ms),
        ("extract_ms", actual.extract_ms, expected.extract_ms),
        ("overlap_ms", actual.overlap_ms, expected.overlap_ms),
        (
            "wait_floor_ms",
            actual.wait_floor_ms,
            expected.wait_floor_ms,
        ),
        ("efs_read_ms", actual.efs_read_ms, expected.efs_read_ms),
        ("usd", actual.usd, expected.usd),
        ("local_bytes", actual.local_bytes, expected.local_bytes),
        ("tmp_bytes", actual.tmp_bytes, expected.tmp_bytes),
        (
            "first_invocation_ms",
            actual.first_invocation_ms,
            expected.first_invocation_ms,
        ),
    ];
    for (field, actual, expected) in fields {
        assert_close(actual, expected, &format!("{case}: {field}"));
    }
}

#[test]
fn coefficients_of_one_group_on_each_tier() {
    let cases = [
        (
            "hot, local: its import, overlapping any prefetch",
            hot(),
            Local,
            Coefficients {
                latency_ms: 20.0,
                overlap_ms: 20.0,
                local_bytes: 1e6,
                ..Coefficients::default()
            },
        ),
        (
            // Init reads: 1 ms × (2 ops × 4 files + 2 dirs) + 100 kB / 1000 B/ms
            // = 110 ms. Later: 10 files × 2 ops + 1 MB / 1000 = 1020 ms.
            // $: 0.001 GB × $1 + 1000 starts × 0.001 GB × $0.1.
            "hot, EFS: round trips and reads of what init loads",
            hot(),
            Efs,
            Coefficients {
                latency_ms: 20.0 + 110.0,
                efs_read_ms: 110.0,
                usd: 0.001 + 0.1,
                first_invocation_ms: 0.5 * (1020.0 + 20.0),
                ..Coefficients::default()
            },
        ),
        (
            // 500 kB zipped at 1000 B/ms: 500 ms transfer; extraction
            // 1 MB / 2000 B/ms + 10 files × 1 ms = 510 ms; first byte 10 ms
            // over 2 connections. $: 0.001 GB × $0.5 + 1000 GETs × $0.01/1000.
            "hot, S3: prefetched at init, extraction not hidden",
            hot(),
            S3,
            Coefficients {
                latency_ms: 20.0 + 10.0,
                extract_ms: 500.0,
                download_ms: 10.0 / 2.0 + 500.0,
                wait_floor_ms: 10.0 + 500.0,
                usd: 0.0005 + 0.01,
                tmp_bytes: 1e6,
                first_invocation_ms: 0.5 * (10.0 + 500.0 + 510.0 + 20.0),
                ..Coefficients::default()
            },
        ),
        (
            "cold, local: nothing at init",
            cold(),
            Local,
            Coefficients {
                local_bytes: 1e6,
                ..Coefficients::default()
            },
        ),
        (
            // Fetched by 0.1 × 1000 invocations / 1000 cold starts of the
            // containers: 100 GETs a month.
            "cold, S3: fetched on first use only",
            cold(),
            S3,
            Coefficients {
                usd: 0.0005 + 0.001,
                tmp_bytes: 1e6,
                first_invocation_ms: 0.1 * (10.0 + 500.0 + 510.0 + 20.0),
                ..Coefficients::default()
            },
        ),
    ];
    let s = settings();
    for (case, group, tier, expected) in cases {
        assert_coefficients(coefficients(&s, &group, tier), expected, case);
    }
}

#[test]
fn snapstart_takes_init_off_the_cold_start() {
    let mut s = settings();
    s.workload.snapstart = true;
    let c = coefficients(&s, &hot(), S3);
    // Restored from the snapshot: no import, no extraction, no prefetch;
    // the first invocation still fetches what it needs.
    assert_close(c.latency_ms, 0.0, "latency");
    assert_close(c.download_ms, 0.0, "download");
    assert_close(c.tmp_bytes, 1e6, "tmp bytes");
    assert_close(c.usd, 0.0005 + 0.5 * 0.01, "usd");
}

#[test]
fn cold_start_of_a_placement() {
    let s = settings();
    let cases = [
        ("all local: the imports", vec![Local, Local], 20.0),
        ("hot on EFS", vec![Efs, Local], 130.0),
        // Hot on S3: 530 ms (import and extraction) + the wait imports do
        // not hide: max(505 download − 0 overlap, 510 floor) + 100 ms client.
        ("hot on S3", vec![S3, Local], 530.0 + 510.0 + 100.0),
        // The cold group on S3 is fetched after init: the client is paid
        // by the first invocation, not by init.
        ("cold on S3", vec![Local, S3], 20.0),
    ];
    let groups = [hot(), cold()];
    for (case, tiers, expected) in cases {
        assert_close(cold_start_ms(&groups, &tiers, &s), expected, case);
    }
}

/// Bundles inflate side by side on the function's vCPUs (one per 1,769 MB),
/// at most one per prefetch connection (2 here): 500 ms each; creating
/// their files (10 ms each) holds the GIL and adds up.
#[test]
fn bundles_extract_in_parallel_on_the_vcpus() {
    let groups = [group("a", 1.0, 0.0), group("b", 1.0, 0.0)];
    // Imports 40 ms; download max(2 × 505 − 0, 510) = 1010 ms; client 100.
    let fixed = 40.0 + 1010.0 + 100.0;
    let cases = [
        (
            "1,024 MB: under one vCPU, one after the other",
            1024.0,
            1020.0,
        ),
        ("3,538 MB: two vCPUs, side by side", 3538.0, 520.0),
        ("10,240 MB: still two connections", 10240.0, 520.0),
        (
            "2,654 MB: 1.5 vCPUs share the work",
            2653.5,
            1000.0 / 1.5 + 20.0,
        ),
    ];
    for (case, memory_mb, extraction) in cases {
        let mut s = settings();
        s.workload.memory_mb = memory_mb;
        assert_close(
            cold_start_ms(&groups, &[S3, S3], &s),
            fixed + extraction,
            case,
        );
        // The solver's program charges the same: a budget just above the
        // figure is met by the only placement left (no package, no EFS).
        s.local_limit = 0;
        s.tiers.efs_fixed_usd_per_month = 1e6;
        s.max_latency_ms = Some(fixed + extraction + 1.0);
        let plan = optimize(&groups, &s).unwrap_or_else(|e| panic!("{case}: {e:?}"));
        assert_eq!(plan.tiers, vec![S3, S3], "{case}");
        assert_close(plan.cold_start_ms, fixed + extraction, case);
    }
}

#[test]
fn evaluate_sums_the_figures_per_tier() {
    let s = settings();
    let plan = evaluate(&[hot(), cold()], &s, vec![S3, Efs], String::new());
    assert_eq!(plan.prefetch, vec![0]);
    assert_eq!(
        (plan.bytes.local, plan.bytes.efs, plan.bytes.s3),
        (0, MB, MB)
    );
    assert_eq!(plan.bytes.tmp, MB);
    assert_close(plan.cold_start_ms, 1140.0, "cold start");
    let shares: Vec<(TierName, usize, u64)> = plan
        .per_tier
        .iter()
        .map(|t| (t.tier, t.groups, t.bytes))
        .collect();
    assert_eq!(shares, vec![(Local, 0, 0), (Efs, 1, MB), (S3, 1, MB)]);
    // The S3 share carries the unhidden wait and the client: all of it.
    let s3_share = plan.per_tier.iter().find(|t| t.tier == S3).unwrap();
    assert_close(s3_share.cold_start_ms, 1140.0, "S3 share");
    // 1000 cold starts × 1.14 s × 1 GB × $0.0001.
    assert_close(plan.cost.billed_init_usd, 0.114, "billed INIT");
    assert_close(plan.cost.storage_usd, 0.0005 + 0.001, "storage");
}

#[test]
fn the_solver_places_groups_within_the_limits_and_budget() {
    struct Case {
        what: &'static str,
        local_limit: u64,
        max_latency_ms: Option<f64>,
        expected: [TierName; 2],
    }
    let cases = [
        Case {
            what: "everything fits: everything local, at no cost",
            local_limit: 2 * MB,
            max_latency_ms: None,
            expected: [Local, Local],
        },
        Case {
            what: "room for one: the hot group local, the cold one on cheap S3",
            local_limit: MB,
            max_latency_ms: None,
            expected: [Local, S3],
        },
        Case {
            what: "no room: a 200 ms budget S3 (1140 ms) cannot meet, EFS (130) can",
            local_limit: 0,
            max_latency_ms: Some(200.0),
            expected: [Efs, S3],
        },
    ];
    for case in cases {
        let mut s = settings();
        s.local_limit = case.local_limit;
        s.max_latency_ms = case.max_latency_ms;
        let plan = optimize(&[hot(), cold()], &s)
            .unwrap_or_else(|i| panic!("{}: infeasible: {i:?}", case.what));
        assert_eq!(plan.tiers, case.expected, "{}", case.what);
        assert!(plan.status.starts_with("optimal"), "{}", plan.status);
        if let Some(max) = case.max_latency_ms {
            assert!(plan.cold_start_ms <= max, "{}", case.what);
        }
    }
}

#[test]
fn a_budget_below_the_fastest_placement_is_infeasible() {
    let mut s = settings();
    s.local_limit = 0;
    s.max_latency_ms = Some(100.0);
    let infeasible = optimize(&[hot(), cold()], &s).expect_err("100 ms < 130 ms on EFS");
    let min = infeasible.min_latency_ms.expect("a smallest cold start");
    assert_close(min, 130.0, "smallest cold start");
    assert_eq!(
        infeasible.binding,
        Binding::Latency {
            max_ms: 100.0,
            min_ms: min
        }
    );
}

#[test]
fn pinned_groups_over_the_package_limit_are_infeasible() {
    let mut s = settings();
    s.local_limit = MB;
    let pinned = |name| Group {
        pinned: Some(Local),
        ..group(name, 1.0, 1.0)
    };
    let infeasible = optimize(&[pinned("a"), pinned("b")], &s).expect_err("2 MB pinned in 1 MB");
    assert_eq!(infeasible.min_latency_ms, None);
    assert_eq!(
        infeasible.binding,
        Binding::PinnedLocal {
            need: 2 * MB,
            local_limit: MB
        }
    );
}

#[test]
fn greedy_fills_the_package_with_the_most_init_time_per_byte() {
    let big_hot = Group {
        bytes: 2 * MB,
        ..group("big hot", 1.0, 0.5)
    };
    let slow_import = Group {
        import_ms: 200.0,
        ..group("slow import", 1.0, 0.5)
    };
    let groups = [cold(), big_hot, hot(), slow_import];
    let cases: [(u64, Option<Vec<TierName>>); 4] = [
        (0, None), // all four on S3 need 5 MB of /tmp: over 4 MB
        (MB, Some(vec![S3, S3, S3, Local])),
        (2 * MB, Some(vec![S3, S3, Local, Local])),
        // The big group no longer fits after the two small ones: the cold
        // group (score 0) takes the last megabyte.
        (3 * MB, Some(vec![Local, S3, Local, Local])),
    ];
    for (local_limit, expected) in cases {
        let mut s = settings();
        s.local_limit = local_limit;
        s.tmp_limit = 4 * MB;
        assert_eq!(greedy(&groups, &s), expected, "local limit {local_limit}");
    }
}

#[test]
fn greedy_keeps_pins_and_the_s3_client_off_s3() {
    let groups = [
        Group {
            pinned: Some(Efs),
            ..hot()
        },
        Group {
            not_on_s3: Some("botocore".to_string()),
            ..cold()
        },
        cold(),
    ];
    let mut s = settings();
    s.local_limit = MB;
    assert_eq!(greedy(&groups, &s), Some(vec![Efs, Local, S3]));
}

#[test]
fn integral_tiers_reads_the_chosen_tier_or_gives_up() {
    let solved = |local, efs, s3| PerTier { local, efs, s3 };
    let cases = [
        (vec![solved(Some(1.0), Some(0.0), None)], Some(vec![Local])),
        (vec![solved(None, Some(1e-9), Some(1.0))], Some(vec![S3])),
        (vec![solved(Some(0.5), Some(0.5), None)], None),
        (vec![solved(Some(0.0), None, Some(0.0))], None),
    ];
    for (values, expected) in cases {
        assert_eq!(integral_tiers(&values), expected, "{values:?}");
    }
}

#[test]
fn without_a_solver_answer_the_greedy_plan_stands_in() {
    let s = settings();
    let groups = [hot(), cold()];
    let plan = fallback(&groups, &s, greedy(&groups, &s), "no answer from HiGHS")
        .expect("greedy fits the limits");
    assert_eq!(plan.tiers, vec![Local, Local]);
    assert_eq!(
        plan.status,
        "greedy plan (no answer from HiGHS); not proven optimal"
    );
}

#[test]
fn a_monthly_budget_below_the_cheapest_placement_is_infeasible() {
    let mut s = settings();
    s.max_monthly_usd = Some(0.001); // all local already bills $0.002 of INIT
    let infeasible = optimize(&[hot(), cold()], &s).expect_err("under $0.002");
    assert_close(
        infeasible.min_latency_ms.expect("a placement fits"),
        20.0,
        "smallest cold start",
    );
    assert_eq!(infeasible.binding, Binding::MonthlyCost);
}

#[test]
fn the_regime_says_what_is_off_the_package_and_why() {
    use regime::{EfsShare, OffPackage, S3Share};
    let off = |why, s3, efs| Regime::OffPackage {
        unit_bytes: 2 * MB,
        local_limit: MB,
        why,
        s3,
        efs,
    };
    let pinned_hot = Group {
        pinned: Some(S3),
        ..hot()
    };
    let cases = [
        (
            "all local",
            vec![hot(), cold()],
            vec![Local, Local],
            Some(200.0),
            Regime::FitsLocally {
                unit_bytes: 2 * MB,
                local_limit: MB,
            },
        ),
        (
            "cold on S3",
            vec![hot(), cold()],
            vec![Local, S3],
            None,
            off(
                OffPackage::NotNeededAtInit { bytes: MB },
                Some(S3Share {
                    bytes: MB,
                    prefetched: 0,
                }),
                None,
            ),
        ),
        (
            "hot on EFS within a budget S3 would break",
            vec![hot(), cold()],
            vec![Efs, Local],
            Some(200.0),
            off(
                OffPackage::TooBig,
                None,
                Some(EfsShare {
                    bytes: MB,
                    needed_for_budget_ms: Some(200.0),
                }),
            ),
        ),
        (
            "hot on EFS for cost",
            vec![hot(), cold()],
            vec![Efs, Local],
            Some(2000.0),
            off(
                OffPackage::TooBig,
                None,
                Some(EfsShare {
                    bytes: MB,
                    needed_for_budget_ms: None,
                }),
            ),
        ),
    ];
    for (case, groups, tiers, max_latency_ms, expected) in cases {
        let mut s = settings();
        s.local_limit = MB;
        s.max_latency_ms = max_latency_ms;
        let plan = evaluate(&groups, &s, tiers, String::new());
        assert_eq!(plan.regime, expected, "{case}");
    }
    // Pins alone keep a hot group off a package the unit fits.
    let mut s = settings();
    s.local_limit = 3 * MB;
    let plan = evaluate(&[pinned_hot, cold()], &s, vec![S3, Local], String::new());
    let Regime::OffPackage { why, .. } = plan.regime else {
        panic!("{:?}", plan.regime);
    };
    assert_eq!(
        why,
        OffPackage::Pinned {
            groups: 1,
            bytes: MB
        }
    );
}
