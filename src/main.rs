//! The `caios-pack` command line: parses arguments, calls the library, maps
//! errors to exit codes (0 ok, 1 constraints cannot be met, 2 bad input,
//! 3 I/O or internal failure).

use caios_pack::commands::{
    self, AnalyzeArgs, Format, OptimizeArgs, PackageArgs, TraceArgs, UnitArgs, VerifyArgs,
};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

// Parsing thousands of files allocates millions of small AST nodes.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "caios-pack",
    version,
    about = "Make large Python serverless functions deployable and fast to start"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the handler on sample events and record what each phase imports.
    Trace(TraceFlags),
    /// Place every file on local, EFS or S3 under a latency budget; print the plan.
    Optimize(OptimizeFlags),
    /// Optimize, then write deployment.zip, the EFS tree, S3 bundles and the catalogue.
    Package(PackageFlags),
    /// Run the unit unpackaged and from a package output alone on the same
    /// events, cold and warm; exit 1 naming the first difference.
    Verify(VerifyFlags),
    /// Write the HTML report (treemap of every file by tier and usage) of a package output.
    Report {
        /// The output folder of `caios-pack package`.
        dist: PathBuf,
        /// Where to write it (default: DIST/report.html).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Upload a package output's S3 bundles (skips those already there).
    Upload {
        /// The output folder of `caios-pack package`.
        dist: PathBuf,
        /// Bucket (default: the one given to `package`).
        #[arg(long)]
        bucket: Option<String>,
        /// Key prefix (default: the catalogue's).
        #[arg(long)]
        prefix: Option<String>,
        #[arg(long)]
        region: Option<String>,
        /// S3-compatible endpoint, e.g. http://127.0.0.1:9000 (also AWS_ENDPOINT_URL_S3).
        #[arg(long)]
        endpoint_url: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Copy the EFS tree of a package output onto an EFS mount, verified.
    EfsSync {
        /// The output folder of `caios-pack package`.
        dist: PathBuf,
        /// Where the EFS file system (or access point) is mounted.
        #[arg(long)]
        root: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Import graph, sizes, what runs at cold start, later, or never.
    Analyze {
        #[command(flatten)]
        unit: UnitFlags,
        /// Output format on stdout.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Also write a Graphviz file of the cold graph.
        #[arg(long, value_name = "FILE")]
        dot: Option<PathBuf>,
        /// Explain how the handler reaches MODULE (or why it does not).
        #[arg(long, value_name = "MODULE")]
        why: Option<String>,
        /// Parse every module, including those the handler cannot reach, so
        /// that the JSON graph also holds their imports (slower).
        #[arg(long)]
        full: bool,
        /// Observed statistics: `caios-pack trace` output, `python -X
        /// importtime` output, importer EMF log lines or their aggregate CSV
        /// (repeatable; merged).
        #[arg(long, value_name = "FILE", num_args = 1..)]
        stats: Vec<PathBuf>,
    },
}

#[derive(clap::Args)]
struct OptimizeFlags {
    #[command(flatten)]
    unit: UnitFlags,
    /// Modelled cold-start budget, e.g. 800ms or 1.5s; overrides budget.max_latency.
    #[arg(long, value_name = "DURATION")]
    max_latency: Option<String>,
    /// Observed statistics (see `analyze --stats`).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    stats: Vec<PathBuf>,
    /// Wall-clock limit for the solver, in seconds; the best plan found is
    /// reported with its status.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    time_limit: f64,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(clap::Args)]
struct PackageFlags {
    #[command(flatten)]
    optimize: OptimizeFlags,
    /// Output folder.
    #[arg(long, default_value = "dist")]
    out: PathBuf,
    /// Bucket the bundles will be uploaded to (for the catalogue and the IAM
    /// policy; the importer also reads CAIOS_BUCKET).
    #[arg(long)]
    bucket: Option<String>,
    /// Key prefix of the bundles.
    #[arg(long, default_value = "caios/")]
    prefix: String,
    /// Where the function mounts the EFS access point.
    #[arg(long, default_value = "/mnt/caios")]
    efs_mount: String,
    /// Interpreter that compiles the .pyc files (the Lambda runtime's version).
    #[arg(long, default_value = "python3")]
    python: String,
    /// Also write OUT/report.html (see `caios-pack report`).
    #[arg(long, conflicts_with = "check")]
    report: bool,
    /// CI mode: write nothing; exit 0 when the unit fits and meets the
    /// budget, 1 with the reason when it does not (--format json: a summary).
    #[arg(long)]
    check: bool,
    /// Then run `verify` on these events (the format of `trace --events`);
    /// exit 1 on a difference, leaving the artifacts for inspection.
    #[arg(long, value_name = "FILE", conflicts_with = "check")]
    verify: Option<PathBuf>,
}

#[derive(clap::Args)]
struct VerifyFlags {
    #[command(flatten)]
    unit: UnitFlags,
    /// The output folder of `caios-pack package` for this unit.
    #[arg(long, value_name = "DIR")]
    dist: PathBuf,
    /// Sample events: {"tests": [{"name", "event", "context"}]} or a JSON list.
    #[arg(long, value_name = "FILE")]
    events: PathBuf,
    /// The interpreter to run both with (the Lambda runtime's version).
    #[arg(long, default_value = "python3")]
    python: String,
    /// Seconds each event (and each process's init) may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    event_timeout: f64,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(clap::Args)]
struct TraceFlags {
    #[command(flatten)]
    unit: UnitFlags,
    /// Sample events: {"tests": [{"name", "event", "context"}]} or a JSON list.
    #[arg(long, value_name = "FILE")]
    events: PathBuf,
    /// Where to write the statistics (the input of --stats).
    #[arg(long, value_name = "FILE", default_value = "caios-trace.json")]
    out: PathBuf,
    /// The interpreter to run the handler with (the Lambda runtime's version).
    #[arg(long, default_value = "python3")]
    python: String,
    /// Run the events one after another in the init process instead of each
    /// in its own process forked after init.
    #[arg(long)]
    no_fork: bool,
    /// Do not record which modules' functions ran (lower overhead).
    #[arg(long)]
    no_calls: bool,
    /// Seconds each event may run before its process is killed (exit 1).
    #[arg(long, value_name = "SECONDS", default_value_t = 600.0)]
    event_timeout: f64,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(clap::Args)]
struct UnitFlags {
    /// The unit folder (holds caios-pack.yaml).
    #[arg(default_value = ".")]
    unit: PathBuf,
    /// Handler as module.function; overrides `handler:`.
    #[arg(long)]
    handler: Option<String>,
    /// Source folder; overrides `source:`.
    #[arg(long)]
    source: Option<PathBuf>,
    /// Site-packages folder (repeatable); overrides `site_packages:`.
    #[arg(long = "site-packages", value_name = "DIR")]
    site_packages: Vec<PathBuf>,
}

impl From<OptimizeFlags> for OptimizeArgs {
    fn from(o: OptimizeFlags) -> Self {
        OptimizeArgs {
            unit: o.unit.into(),
            max_latency: o.max_latency,
            stats: o.stats,
            time_limit: std::time::Duration::from_secs_f64(o.time_limit.clamp(0.1, 3600.0)),
            format: o.format,
        }
    }
}

impl From<UnitFlags> for UnitArgs {
    fn from(f: UnitFlags) -> Self {
        UnitArgs {
            dir: f.unit,
            handler: f.handler,
            source: f.source,
            site_packages: f.site_packages,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze {
            unit,
            format,
            dot,
            why,
            full,
            stats,
        } => commands::analyze(&AnalyzeArgs {
            unit: unit.into(),
            format,
            dot,
            why,
            full,
            stats,
        }),
        Command::Optimize(o) => commands::optimize(&o.into()),
        Command::EfsSync { dist, root, format } => commands::efs_sync(&dist, &root, format),
        Command::Upload {
            dist,
            bucket,
            prefix,
            region,
            endpoint_url,
            format,
        } => commands::upload(
            &caios_pack::upload::UploadOptions {
                dist,
                bucket,
                prefix,
                region,
                endpoint_url,
            },
            format,
        ),
        Command::Package(p) => commands::package(&PackageArgs {
            optimize: p.optimize.into(),
            out: p.out,
            bucket: p.bucket,
            prefix: p.prefix,
            efs_mount: p.efs_mount,
            python: p.python,
            report: p.report,
            check: p.check,
            verify: p.verify,
        }),
        Command::Verify(v) => commands::verify(&VerifyArgs {
            unit: v.unit.into(),
            dist: v.dist,
            events: v.events,
            python: v.python,
            event_timeout: std::time::Duration::from_secs_f64(v.event_timeout.clamp(0.1, 86_400.0)),
            format: v.format,
        }),
        Command::Report { dist, out } => commands::report(&dist, out.as_deref()),
        Command::Trace(t) => commands::trace(&TraceArgs {
            unit: t.unit.into(),
            events: t.events,
            out: t.out,
            python: t.python,
            fork: !t.no_fork,
            track_calls: !t.no_calls,
            event_timeout_s: t.event_timeout,
            format: t.format,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("caios-pack: error: {err}");
            ExitCode::from(err.exit_code() as u8)
        }
    }
}
