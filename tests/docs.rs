//! The guides users copy cannot drift from the CLI.
//!
//! What this proves, for docs/getting-started.md, ci.md, feedback.md,
//! deploy.md and lambda-env.md:
//!
//! - every `caios-pack …` command in a ```sh block (and in the `run:` steps of
//!   the GitHub Actions workflow of ci.md) runs, in order, against a real unit
//!   (the layout of the guides' `my-fn`, built here with a stand-in handler,
//!   a small site-packages, a model file and events, and configured with
//!   getting-started.md's own caios-pack.yaml) and exits 0 — or the code its comment states (`# exit 1`).
//!   A usage error from clap (an option or subcommand that does not exist)
//!   fails with its own message. `upload` runs against a real S3 server
//!   (s3s-fs on loopback) and every bundle must then be in the bucket,
//!   `efs-sync` writes into a temporary folder, and the
//!   feedback guide's `--stats` files are real: the cold-start lines the
//!   packaged function printed when it ran;
//! - shell code in the guides is tagged ```sh (run here) or ```text (not
//!   run); other shell tags are refused so nothing escapes the check;
//! - every ```yaml block of config.md, getting-started.md and model.md, laid
//!   over a minimal configuration, is accepted by `analyze` and `optimize`
//!   (unknown keys and wrong types exit 2), and config.md names every key of
//!   the type `caios-pack.yaml` is read into (read from the type, not its source);
//! - deploy.md names every environment variable the runtime importer reads,
//!   names no `CAIOS_*` variable it does not read, and its SAM, CDK and
//!   Terraform snippets wire the handler, runtime, EFS mount path and IAM
//!   action that `caios-pack package` actually uses;
//! - the pip options of lambda-env.md exist in the installed pip (its `uv`
//!   lines are ```text: uv is not a requirement of this repository);
//! - README.md links every guide under `## Guides`.
//!
//! Placeholders substituted in commands, and nothing else: `$BUCKET` (the test
//! bucket) and `/mnt/efs` (a temporary folder standing in for the EFS mount).
//! Files the guides' commands read that the guides themselves tell the user
//! to produce elsewhere (`events.json`, `cold-starts.log`,
//! `module-stats.csv`) are made by this test.

mod support;

use support::s3::S3Server;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BUCKET: &str = "caios-docs";
const GUIDES: [&str; 6] = [
    "getting-started.md",
    "config.md",
    "lambda-env.md",
    "ci.md",
    "deploy.md",
    "feedback.md",
];

// ---------------------------------------------------------------------------
// Markdown

fn read_doc(name: &str) -> String {
    let path = support::repo().join("docs").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fenced block: its tag, the line number of its first body line, its body.
struct Block {
    tag: String,
    line: usize,
    body: String,
}

/// Every fenced block of a Markdown text (fences may be indented, as in
/// lists; the body loses the fence's indentation).
fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    // (the block being read, the indentation of its fence)
    let mut open: Option<(Block, usize)> = None;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match open.take() {
            None => {
                if let Some(tag) = trimmed.strip_prefix("```") {
                    let block = Block {
                        tag: tag.trim().to_string(),
                        line: index + 2,
                        body: String::new(),
                    };
                    open = Some((block, line.len() - trimmed.len()));
                }
            }
            Some((mut block, _)) if trimmed.starts_with("```") => {
                block.body.pop(); // the newline after the last body line
                out.push(block);
            }
            Some((mut block, indent)) => {
                let body = match line.get(..indent) {
                    Some(head) if head.trim().is_empty() => &line[indent..],
                    _ => trimmed,
                };
                block.body.push_str(body);
                block.body.push('\n');
                open = Some((block, indent));
            }
        }
    }
    assert!(open.is_none(), "unterminated code fence");
    out
}

fn tagged<'a>(all: &'a [Block], tag: &str) -> impl Iterator<Item = &'a Block> + 'a {
    let tag = tag.to_string();
    all.iter().filter(move |b| b.tag == tag)
}

// ---------------------------------------------------------------------------
// Shell lines

/// One `caios-pack` command of a guide: where it is, its arguments after
/// `caios-pack` (placeholders substituted), the exit code the guide expects.
#[derive(Debug, Clone)]
struct DocCommand {
    place: String,
    text: String,
    args: Vec<String>,
    expect: i32,
}

/// Logical lines of a shell script (`\` continuations joined), with the
/// line number each starts on.
fn logical_lines(script: &str, first_line: usize) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (offset, line) in script.lines().enumerate() {
        let (start, mut text) = pending
            .take()
            .unwrap_or((first_line + offset, String::new()));
        match line.trim_end().strip_suffix('\\') {
            Some(head) => {
                text.push_str(head);
                text.push(' ');
                pending = Some((start, text));
            }
            None => {
                text.push_str(line);
                out.push((start, text));
            }
        }
    }
    out.extend(pending);
    out
}

/// Splits a shell line into words like sh does for simple commands: quotes,
/// backslash escapes, `$NAME` / `${NAME}` expanded by `expand` outside single
/// quotes. Stops at an operator (`|`, `;`, `&`, `<`, `>`): what follows is
/// not the command's arguments. Returns the words and the trailing comment.
fn shell_words(line: &str, expand: &dyn Fn(&str) -> String) -> (Vec<String>, String) {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (Some('\''), c) => word.get_or_insert_with(String::new).push(c),
            (_, '$') if quote != Some('\'') => {
                let name = variable_name(&mut chars)
                    .unwrap_or_else(|| panic!("`{line}`: only $NAME and ${{NAME}} are supported"));
                word.get_or_insert_with(String::new)
                    .push_str(&expand(&name));
            }
            (Some('"'), '\\') => {
                let next = chars.next().unwrap_or('\\');
                word.get_or_insert_with(String::new).push(next);
            }
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, '\\') => {
                let next = chars.next().unwrap_or('\\');
                word.get_or_insert_with(String::new).push(next);
            }
            (None, '#') if word.is_none() => {
                return (words, chars.collect::<String>().trim().to_string());
            }
            (None, '|' | ';' | '&' | '<' | '>') => {
                words.extend(word.take());
                return (words, comment_after_operator(&chars.collect::<String>()));
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(quote.is_none(), "unterminated quote in `{line}`");
    words.extend(word);
    (words, String::new())
}

/// The comment at the end of a line whose command ended at an operator.
fn comment_after_operator(rest: &str) -> String {
    rest.split_once(" #")
        .map(|(_, c)| c.trim().to_string())
        .unwrap_or_default()
}

/// `NAME` of `$NAME` or `${NAME}`; `None` for `$(…)` and other forms.
fn variable_name(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<String> {
    let braced = chars.peek() == Some(&'{');
    if braced {
        chars.next();
    }
    let mut name = String::new();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_alphanumeric() || c == '_' {
            name.push(c);
            chars.next();
        } else {
            break;
        }
    }
    let closed = !braced || chars.next() == Some('}');
    (closed && !name.is_empty()).then_some(name)
}

/// The exit code a comment states (`# exit 1`, `# exits 1: …`), else 0.
fn expected_exit(comment: &str) -> i32 {
    let mut words = comment.split(|c: char| c.is_whitespace() || c == ':');
    while let Some(word) = words.next() {
        if word == "exit" || word == "exits" {
            if let Some(code) = words.next().and_then(|w| w.parse().ok()) {
                return code;
            }
        }
    }
    0
}

/// The placeholders a guide's commands may use, and their test values.
struct Placeholders {
    efs_root: PathBuf,
}

impl Placeholders {
    fn variable(&self, name: &str, place: &str) -> String {
        match name {
            "BUCKET" => BUCKET.to_string(),
            other => panic!(
                "{place}: `${other}` is not a placeholder tests/docs.rs knows (only $BUCKET)"
            ),
        }
    }

    fn path(&self, word: String) -> String {
        match word.strip_prefix("/mnt/efs") {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                format!("{}{rest}", self.efs_root.display())
            }
            _ => word,
        }
    }
}

/// The `caios-pack` commands of a shell script, in order.
fn caios_commands(
    script: &str,
    first_line: usize,
    place: &str,
    placeholders: &Placeholders,
) -> Vec<DocCommand> {
    let mut out = Vec::new();
    for (line, text) in logical_lines(script, first_line) {
        let place = format!("{place}:{line}");
        if !text.trim_start().starts_with("caios-pack") {
            continue;
        }
        let expand = |name: &str| placeholders.variable(name, &place);
        let (words, comment) = shell_words(&text, &expand);
        if words.first().map(String::as_str) != Some("caios-pack") {
            continue;
        }
        out.push(DocCommand {
            place: place.clone(),
            text: text.trim().to_string(),
            args: words
                .into_iter()
                .skip(1)
                .map(|w| placeholders.path(w))
                .collect(),
            expect: expected_exit(&comment),
        });
    }
    out
}

/// The scripts of a guide in document order, each with the line it starts
/// on: its ```sh blocks, and the `run:` steps of a GitHub Actions workflow
/// in a ```yaml block (one with `jobs:`). Refuses shell code under other
/// tags.
fn scripts(doc: &str) -> Vec<(usize, String)> {
    let all = blocks(&read_doc(doc));
    let mut out = Vec::new();
    for block in &all {
        assert!(
            !matches!(
                block.tag.as_str(),
                "bash" | "shell" | "console" | "zsh" | "shell-session"
            ),
            "docs/{doc}:{}: shell code must be tagged ```sh (run by tests/docs.rs) or ```text (not run), not ```{}",
            block.line,
            block.tag
        );
        match block.tag.as_str() {
            "sh" => out.push((block.line, block.body.clone())),
            "yaml" => out.extend(workflow_scripts(block)),
            _ => {}
        }
    }
    out
}

/// The `run:` scripts of a workflow block, each with the line of the block
/// where it starts (not a workflow: none).
fn workflow_scripts(block: &Block) -> Vec<(usize, String)> {
    let Ok(workflow) = serde_yaml::from_str::<serde_yaml::Value>(&block.body) else {
        return Vec::new();
    };
    let lines: Vec<&str> = block.body.lines().collect();
    let mut from = 0;
    let mut out = Vec::new();
    for run in workflow_runs(&workflow) {
        let first = run.lines().next().unwrap_or("").trim();
        let found = (from..lines.len()).find(|&i| lines[i].contains(first));
        let at = found.unwrap_or(from);
        from = at + 1;
        out.push((block.line + at, run));
    }
    out
}

/// The `run:` scripts of every step of every job, in document order.
fn workflow_runs(workflow: &serde_yaml::Value) -> Vec<String> {
    let Some(jobs) = workflow.get("jobs").and_then(|j| j.as_mapping()) else {
        return Vec::new();
    };
    jobs.values()
        .filter_map(|job| job.get("steps").and_then(|s| s.as_sequence()))
        .flatten()
        .filter_map(|step| step.get("run").and_then(|r| r.as_str()))
        .map(String::from)
        .collect()
}

fn guide_commands(doc: &str, placeholders: &Placeholders) -> Vec<DocCommand> {
    scripts(doc)
        .iter()
        .flat_map(|(line, script)| {
            caios_commands(script, *line, &format!("docs/{doc}"), placeholders)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The unit the guides work on

/// The handler of the guides' `my-fn`: a dependency at init, the model
/// through `asset_path` (its fallback when not packaged), a dependency that
/// only some events need.
const HANDLER: &str = r#"import os

import textkit

try:
    from caios_importer import asset_path
except ImportError:
    def asset_path(name):
        return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", name)

with open(asset_path("models/model.onnx"), "rb") as f:
    MODEL = f.read()


def handler(event, context):
    if event.get("report"):
        import reportlib
        return reportlib.render(event)
    return {"words": textkit.count(event.get("text", "")), "model_bytes": len(MODEL)}
"#;

const EVENTS: &str = r#"{"tests": [
  {"name": "count", "event": {"text": "one two three"}, "context": {}},
  {"name": "report", "event": {"report": true, "text": "a b"}, "context": {}}
]}
"#;

/// Quoted like Athena's result files, which feedback.md says are read as they are.
const MODULE_STATS: &str = "\"module\",\"cold_starts\",\"init_loads\",\"invocations\",\"invocation_loads\",\"median_self_us\",\"median_cumulative_us\"\n\
\"handler\",\"1000\",\"1000\",\"50000\",\"0\",\"900\",\"4000\"\n\
\"textkit\",\"1000\",\"1000\",\"50000\",\"0\",\"300\",\"300\"\n\
\"reportlib\",\"1000\",\"0\",\"50000\",\"120\",\"2000\",\"2000\"\n";

/// The configuration every YAML example is laid over.
const BASE_CONFIG: &str = "handler: handler.handler\nsource: src\nsite_packages: env\n";

/// Writes `my-fn` (without its caios-pack.yaml) into `root`.
fn write_unit(root: &Path) {
    let write = |rel: &str, bytes: &[u8]| support::write_file(root, rel, bytes);
    write("src/handler.py", HANDLER.as_bytes());
    write(
        "env/textkit/__init__.py",
        b"from textkit.split import words\n\n\ndef count(text):\n    return len(words(text))\n",
    );
    write(
        "env/textkit/split.py",
        b"def words(text):\n    return text.split()\n",
    );
    write(
        "env/textkit-1.0.dist-info/METADATA",
        b"Metadata-Version: 2.1\nName: textkit\nVersion: 1.0\n",
    );
    write("env/textkit-1.0.dist-info/top_level.txt", b"textkit\n");
    write(
        "env/reportlib/__init__.py",
        b"def render(event):\n    return {'report': sorted(event)}\n",
    );
    write("env/unused/__init__.py", b"X = 1\n");
    write("models/model.onnx", &vec![7u8; 300_000]);
    write("requirements.txt", b"textkit==1.0\nreportlib\n");
    write("events.json", EVENTS.as_bytes());
    write("module-stats.csv", MODULE_STATS.as_bytes());
}

/// The configuration getting-started.md tells the user to write: its first
/// ```yaml block that names a handler.
fn getting_started_config() -> String {
    let all = blocks(&read_doc("getting-started.md"));
    let config = tagged(&all, "yaml").find(|b| b.body.contains("handler:"));
    config
        .expect("docs/getting-started.md has a ```yaml caios-pack.yaml with `handler:`")
        .body
        .clone()
}

/// `my-fn` in a temporary folder, configured as getting-started.md says.
fn guide_unit() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_unit(dir.path());
    std::fs::write(dir.path().join("caios-pack.yaml"), getting_started_config()).unwrap();
    dir
}

// ---------------------------------------------------------------------------
// Running the binary

fn caios(unit: &Path, args: &[String], env: &[(String, String)]) -> Output {
    support::cli::command()
        .args(args)
        .current_dir(unit)
        // Never reach a real AWS account, whatever the machine has configured.
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("the caios-pack binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// clap's usage errors (unknown option or subcommand, bad value) print a
/// `Usage:` line; caios-pack's own input errors do not.
fn is_usage_error(out: &Output) -> bool {
    out.status.code() == Some(2) && text(&out.stderr).contains("Usage: ")
}

fn run_command(command: &DocCommand, unit: &Path, env: &[(String, String)]) -> Output {
    println!("{}: caios-pack {}", command.place, command.args.join(" "));
    let out = caios(unit, &command.args, env);
    let report = || {
        format!(
            "{}: `{}`\n--- stdout\n{}\n--- stderr\n{}",
            command.place,
            command.text,
            text(&out.stdout),
            text(&out.stderr)
        )
    };
    assert!(
        !is_usage_error(&out),
        "the CLI does not accept this command: {}",
        report()
    );
    assert_eq!(
        out.status.code(),
        Some(command.expect),
        "exit code differs from the one the guide states: {}",
        report()
    );
    out
}

/// Runs every command in order in `unit`; returns the commands run.
fn run_guide(doc: &str, unit: &Path) -> Vec<DocCommand> {
    let efs = tempfile::tempdir().unwrap();
    let placeholders = Placeholders {
        efs_root: efs.path().to_path_buf(),
    };
    let commands = guide_commands(doc, &placeholders);
    assert!(
        !commands.is_empty(),
        "docs/{doc} runs no caios-pack command"
    );
    let needs_s3 = commands.iter().any(|c| subcommand(c) == "upload");
    let server = needs_s3.then(|| S3Server::start(&[BUCKET]));
    let env = server
        .as_ref()
        .map(S3Server::client_env)
        .unwrap_or_default();
    for command in &commands {
        run_command(command, unit, &env);
    }
    if let Some(server) = &server {
        assert_uploaded(server, unit);
    }
    commands
}

fn subcommand(command: &DocCommand) -> &str {
    command.args.first().map(String::as_str).unwrap_or("")
}

/// After the guide's `upload`, the bucket holds every bundle of `dist/`
/// under the catalogue's prefix (and there is at least one).
fn assert_uploaded(server: &S3Server, unit: &Path) {
    let dist = unit.join("dist");
    let catalogue: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dist.join("catalogue.json")).unwrap()).unwrap();
    let prefix = catalogue["s3"]["prefix"].as_str().unwrap_or("");
    let bundles: Vec<PathBuf> = walk_files(&dist.join("s3"));
    assert!(
        !bundles.is_empty(),
        "the guide's package wrote no S3 bundle"
    );
    for bundle in bundles {
        let name = bundle.file_name().unwrap().to_string_lossy();
        let key = format!("{prefix}{name}");
        let stored = server.object_path(BUCKET, &key);
        assert_eq!(
            std::fs::read(&stored).ok(),
            std::fs::read(&bundle).ok(),
            "s3://{BUCKET}/{key} is not the bundle {}",
            bundle.display()
        );
    }
}

// ---------------------------------------------------------------------------
// S3 on loopback

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            if path.is_dir() {
                walk_files(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The cold-start lines of the packaged function

/// Packages `unit`, uploads its bundles, runs the function twice (a plain
/// event and one that needs `reportlib`) and returns the lines its
/// importer printed — what CloudWatch would hold.
fn cold_start_lines(unit: &Path) -> String {
    let server = S3Server::start(&[BUCKET]);
    let env = server.client_env();
    let work = tempfile::tempdir().unwrap();
    let dist = work.path().join("dist");
    let dist_arg = dist.to_string_lossy().into_owned();
    for args in [
        vec!["package", "--out", &dist_arg, "--bucket", BUCKET],
        vec!["upload", &dist_arg],
    ] {
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        let out = caios(unit, &args, &env);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let task = work.path().join("task");
    support::unzip(&dist.join("deployment.zip"), &task);
    let mut lines = String::new();
    for event in [r#"{"text": "a b c"}"#, r#"{"report": true}"#] {
        let out = run_packaged(&task, event, &env, &server.url, work.path());
        lines.extend(
            text(&out.stdout)
                .lines()
                .filter(|l| {
                    l.contains("\"caios\": \"cold-start\"")
                        || l.contains("\"caios\":\"cold-start\"")
                })
                .map(|l| format!("{l}\n")),
        );
    }
    assert_eq!(
        lines.lines().count(),
        2,
        "one line per cold start:\n{lines}"
    );
    lines
}

fn run_packaged(
    task: &Path,
    event: &str,
    env: &[(String, String)],
    endpoint: &str,
    work: &Path,
) -> Output {
    let event: serde_json::Value = serde_json::from_str(event).unwrap();
    let pylibs = support::pylibs();
    // caios_entry, as Lambda imports it, prints the importer's EMF line
    // after the first invocation.
    let out = support::lambda::driver(None, &serde_json::json!([event]), &[task, &pylibs])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_LAMBDA_FUNCTION_NAME", "my-fn")
        .env("CAIOS_TMP", work.join("lambda-tmp"))
        .output()
        .expect("python3 runs");
    let outcome = support::lambda::outcome(&out);
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    out
}

// ---------------------------------------------------------------------------
// The guides' commands

#[test]
fn getting_started_commands_run() {
    let unit = guide_unit();
    let commands = run_guide("getting-started.md", unit.path());
    let ran: BTreeSet<String> = commands.iter().map(|c| c.args.join(" ")).collect();
    for needed in [
        "analyze",
        "optimize",
        "package",
        "package --check",
        "report",
        "upload",
        "efs-sync",
        "trace",
        "--stats",
    ] {
        assert!(
            ran.iter()
                .any(|c| c.starts_with(needed) || c.contains(&format!(" {needed}"))),
            "docs/getting-started.md never runs `caios-pack {needed}`"
        );
    }
    for artifact in [
        "deployment.zip",
        "catalogue.json",
        "plan.json",
        "iam-policy.json",
        "efs-manifest.yaml",
        "report.html",
    ] {
        assert!(
            unit.path().join("dist").join(artifact).is_file(),
            "getting-started's package did not write dist/{artifact}"
        );
    }
}

#[test]
fn ci_workflow_commands_run() {
    let unit = guide_unit();
    let commands = run_guide("ci.md", unit.path());
    for needed in ["package", "upload", "efs-sync"] {
        assert!(
            commands.iter().any(|c| subcommand(c) == needed),
            "docs/ci.md never runs `caios-pack {needed}`"
        );
    }
    assert!(
        commands
            .iter()
            .any(|c| c.args.iter().any(|a| a == "--check")),
        "docs/ci.md never runs `caios-pack package --check`"
    );
}

#[test]
fn feedback_commands_run() {
    let unit = guide_unit();
    let lines = cold_start_lines(unit.path());
    println!("cold-starts.log:\n{lines}");
    std::fs::write(unit.path().join("cold-starts.log"), lines).unwrap();
    let commands = run_guide("feedback.md", unit.path());
    for file in ["cold-starts.log", "module-stats.csv"] {
        assert!(
            commands.iter().any(|c| c.args.iter().any(|a| a == file)),
            "docs/feedback.md never passes {file} to --stats"
        );
    }
}

#[test]
fn deploy_commands_run() {
    let unit = guide_unit();
    run_guide("deploy.md", unit.path());
}

#[test]
fn lambda_env_commands_run() {
    let unit = guide_unit();
    run_guide("lambda-env.md", unit.path());
}

// ---------------------------------------------------------------------------
// Configuration examples

/// `example` laid over [`BASE_CONFIG`]: its keys replace the base's.
fn over_base(example: &str) -> String {
    let base: serde_yaml::Mapping = serde_yaml::from_str(BASE_CONFIG).unwrap();
    let mut merged = base;
    let example: serde_yaml::Value = serde_yaml::from_str(example).unwrap();
    if let Some(map) = example.as_mapping() {
        for (k, v) in map {
            merged.insert(k.clone(), v.clone());
        }
    }
    serde_yaml::to_string(&merged).unwrap()
}

/// `analyze` accepts the configuration (exit 0) and `optimize` does not
/// call it bad input (0, or 1 when an example's budget cannot be met).
fn assert_config_accepted(place: &str, yaml: &str) {
    let dir = tempfile::tempdir().unwrap();
    write_unit(dir.path());
    std::fs::write(dir.path().join("caios-pack.yaml"), yaml).unwrap();
    for (command, allowed) in [("analyze", &[0][..]), ("optimize", &[0, 1][..])] {
        let out = caios(dir.path(), &[command.to_string()], &[]);
        assert!(
            out.status.code().is_some_and(|c| allowed.contains(&c)),
            "{place}: `caios-pack {command}` refuses this configuration:\n{yaml}\n--- stderr\n{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn config_examples_are_accepted() {
    let mut checked = 0;
    for doc in ["config.md", "getting-started.md", "model.md"] {
        let all = blocks(&read_doc(doc));
        for block in tagged(&all, "yaml") {
            let place = format!("docs/{doc}:{}", block.line);
            serde_yaml::from_str::<serde_yaml::Value>(&block.body)
                .unwrap_or_else(|e| panic!("{place}: not YAML: {e}"));
            assert_config_accepted(&place, &over_base(&block.body));
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} configuration examples found");
    // The check has teeth: a misspelt key is refused.
    let dir = tempfile::tempdir().unwrap();
    write_unit(dir.path());
    let bad = over_base("workload: {cold_start_per_month: 5}");
    std::fs::write(dir.path().join("caios-pack.yaml"), bad).unwrap();
    let out = caios(dir.path(), &["analyze".to_string()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// Every key `caios-pack.yaml` accepts appears in config.md's tables.
#[test]
fn config_reference_names_every_key() {
    let doc = read_doc("config.md");
    let keys = yaml_keys();
    assert!(keys.len() > 20, "found only {keys:?}");
    for key in keys {
        let name = key.rsplit('.').next().unwrap();
        assert!(
            doc.contains(&format!("`{name}`")) || doc.contains(&format!(".{name}`")),
            "docs/config.md does not name the key `{key}`"
        );
    }
}

/// A key no config type has: where it is refused, serde names the keys the
/// type at that place accepts.
const PROBE: &str = "zz_caios_docs_probe";

/// One step from the top of `caios-pack.yaml` down to a nested type.
#[derive(Clone)]
enum Step {
    Key(String),
    Item,
}

/// Every key of `caios-pack.yaml`, dotted (`tiers.efs.first_byte_ms`),
/// read from the type the file deserializes into, not from its source: at
/// each level a probe key is refused by `deny_unknown_fields` with the list
/// of the keys that type has (serde's `expected one of …`); a key whose
/// value is itself a struct, or a list of structs (`pins`), is probed
/// again one level down.
fn yaml_keys() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    collect_keys(&mut Vec::new(), &mut keys);
    keys
}

fn collect_keys(path: &mut Vec<Step>, keys: &mut BTreeSet<String>) {
    let Some(fields) = accepted_keys(path) else {
        return;
    };
    for field in fields {
        path.push(Step::Key(field));
        keys.insert(dotted(path));
        if accepted_keys(path).is_some() {
            collect_keys(path, keys);
        } else {
            path.push(Step::Item);
            if accepted_keys(path).is_some() {
                collect_keys(path, keys);
            }
            path.pop();
        }
        path.pop();
    }
}

/// The keys the type at `path` accepts, or None when it is not a struct
/// refusing unknown keys.
fn accepted_keys(path: &[Step]) -> Option<Vec<String>> {
    let mut value = serde_yaml::Value::Mapping(
        [(PROBE.into(), serde_yaml::Value::from(1))]
            .into_iter()
            .collect(),
    );
    for step in path.iter().rev() {
        value = match step {
            Step::Key(key) => {
                serde_yaml::Value::Mapping([(key.as_str().into(), value)].into_iter().collect())
            }
            Step::Item => serde_yaml::Value::Sequence(vec![value]),
        };
    }
    let error = serde_yaml::from_value::<caios_pack::config::RawConfig>(value)
        .err()?
        .to_string();
    let expected = error
        .split_once(&format!("unknown field `{PROBE}`, expected"))?
        .1;
    Some(
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(String::from)
            .collect(),
    )
}

fn dotted(path: &[Step]) -> String {
    path.iter()
        .filter_map(|step| match step {
            Step::Key(key) => Some(key.as_str()),
            Step::Item => None,
        })
        .collect::<Vec<_>>()
        .join(".")
}

// ---------------------------------------------------------------------------
// deploy.md against the runtime and the package

/// Environment variables the runtime importer and entry module read.
fn runtime_env_vars() -> BTreeSet<String> {
    let mut vars = BTreeSet::new();
    for file in [
        "src/runtime/caios_importer.py",
        "src/runtime/caios_entry.py",
    ] {
        let source = std::fs::read_to_string(support::repo().join(file)).unwrap();
        for marker in ["environ.get(\"", "env.get(\""] {
            for (index, _) in source.match_indices(marker) {
                let rest = &source[index + marker.len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if !name.is_empty() && rest[name.len()..].starts_with('"') {
                    vars.insert(name);
                }
            }
        }
    }
    assert!(vars.contains("CAIOS_BUCKET"), "found only {vars:?}");
    vars
}

/// `CAIOS_*` names in a text.
fn caios_names(text: &str) -> BTreeSet<String> {
    text.match_indices("CAIOS_")
        .map(|(i, _)| {
            text[i..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| name.len() > "CAIOS_".len())
        .collect()
}

#[test]
fn deploy_names_every_runtime_variable() {
    let deploy = read_doc("deploy.md");
    let read = runtime_env_vars();
    for var in &read {
        assert!(
            deploy.contains(&format!("`{var}`")),
            "docs/deploy.md does not document {var}, which the importer reads"
        );
    }
    // ci.md is left out: its CAIOS_* names are the workflow's repository
    // variables, not the function's.
    for doc in [
        "deploy.md",
        "getting-started.md",
        "feedback.md",
        "config.md",
        "lambda-env.md",
    ] {
        for name in caios_names(&read_doc(doc)) {
            assert!(
                read.contains(&name),
                "docs/{doc} names {name}, which the runtime importer does not read"
            );
        }
    }
}

/// What `caios-pack package` puts in the function's configuration.
struct Wiring {
    efs_mount: String,
    iam_actions: Vec<String>,
}

fn package_wiring() -> Wiring {
    let help = caios(
        &support::repo(),
        &["package".to_string(), "--help".to_string()],
        &[],
    );
    let help = text(&help.stdout);
    let efs_line = help
        .lines()
        .find(|l| l.contains("--efs-mount"))
        .expect("package --help lists --efs-mount");
    let efs_mount = efs_line
        .split("[default: ")
        .nth(1)
        .and_then(|s| s.split(']').next())
        .expect("--efs-mount has a default")
        .to_string();
    let unit = guide_unit();
    let out = caios(
        unit.path(),
        &["package".to_string(), "--out".into(), "dist".into()],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let policy: serde_json::Value =
        serde_json::from_slice(&std::fs::read(unit.path().join("dist/iam-policy.json")).unwrap())
            .unwrap();
    let iam_actions = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    Wiring {
        efs_mount,
        iam_actions,
    }
}

#[test]
fn deploy_snippets_wire_the_package() {
    let wiring = package_wiring();
    let all = blocks(&read_doc("deploy.md"));
    let mut snippets = 0;
    for block in all.iter().filter(|b| {
        matches!(
            b.tag.as_str(),
            "yaml" | "typescript" | "ts" | "python" | "hcl" | "terraform"
        )
    }) {
        let place = format!("docs/deploy.md:{}", block.line);
        let mut needed = vec![
            "caios_entry.handler",
            "python3.11",
            "deployment.zip",
            wiring.efs_mount.as_str(),
        ];
        needed.extend(wiring.iam_actions.iter().map(String::as_str));
        for needle in needed {
            assert!(
                block.body.contains(needle),
                "{place}: the ```{} snippet does not contain `{needle}`",
                block.tag
            );
        }
        snippets += 1;
    }
    assert!(
        snippets >= 3,
        "docs/deploy.md has {snippets} snippets, expected SAM, CDK and Terraform"
    );
    assert_sam_template(&all);
}

/// The SAM template parses (CloudFormation tags included) and its function
/// has the handler and runtime of the package.
fn assert_sam_template(all: &[Block]) {
    let sam = tagged(all, "yaml")
        .find(|b| b.body.contains("AWS::Serverless::Function"))
        .expect("docs/deploy.md has a SAM template");
    let template: serde_yaml::Value = serde_yaml::from_str(&sam.body)
        .unwrap_or_else(|e| panic!("docs/deploy.md:{}: not YAML: {e}", sam.line));
    let resources = template["Resources"].as_mapping().expect("Resources");
    let function = resources
        .values()
        .find(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .expect("a function resource");
    let properties = &function["Properties"];
    assert_eq!(properties["Handler"].as_str(), Some("caios_entry.handler"));
    assert_eq!(properties["Runtime"].as_str(), Some("python3.11"));
}

// ---------------------------------------------------------------------------
// lambda-env.md, README

/// Options of the `pip install` lines of lambda-env.md's ```sh blocks.
fn pip_options() -> BTreeSet<String> {
    let mut options = BTreeSet::new();
    for (line, script) in scripts("lambda-env.md") {
        for (_, logical) in logical_lines(&script, line) {
            let (words, _) = shell_words(&logical, &|name| format!("${name}"));
            let Some(at) = words.windows(2).position(|w| w == ["pip", "install"]) else {
                continue;
            };
            if words.first().map(String::as_str) == Some("uv") {
                continue;
            }
            for word in &words[at + 2..] {
                if let Some(option) = word.strip_prefix("--") {
                    options.insert(format!("--{}", option.split('=').next().unwrap()));
                }
            }
        }
    }
    options
}

/// The long options `pip install --help` lists.
fn pip_help_options() -> BTreeSet<String> {
    let help = Command::new("python3")
        .args(["-m", "pip", "install", "--help"])
        .output()
        .expect("python3 -m pip runs");
    text(&help.stdout)
        .split(|c: char| c.is_whitespace() || c == ',' || c == '=')
        .filter(|w| w.starts_with("--"))
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_string()
        })
        .collect()
}

#[test]
fn lambda_env_pip_options_exist() {
    let options = pip_options();
    for needed in [
        "--platform",
        "--only-binary",
        "--python-version",
        "--target",
    ] {
        assert!(
            options.contains(needed),
            "docs/lambda-env.md: no pip {needed}"
        );
    }
    let known = pip_help_options();
    for option in &options {
        assert!(
            known.contains(option),
            "docs/lambda-env.md: `pip install {option}` is not an option of this pip"
        );
    }
}

#[test]
fn readme_links_every_guide() {
    let readme = std::fs::read_to_string(support::repo().join("README.md")).unwrap();
    let (_, guides) = readme
        .split_once("\n## Guides\n")
        .expect("README.md has a `## Guides` section");
    for guide in GUIDES {
        let link = format!("(docs/{guide})");
        assert!(
            guides.contains(&link),
            "README.md's Guides do not link docs/{guide}"
        );
    }
}

// ---------------------------------------------------------------------------
// The extraction itself

#[test]
fn shell_words_follow_sh() {
    let expand = |name: &str| format!("<{name}>");
    let (words, comment) = shell_words(
        r#"caios-pack upload dist --bucket "$BUCKET" --prefix 'a $B' x\ y   # exit 1: no"#,
        &expand,
    );
    assert_eq!(
        words,
        [
            "caios-pack",
            "upload",
            "dist",
            "--bucket",
            "<BUCKET>",
            "--prefix",
            "a $B",
            "x y"
        ]
    );
    assert_eq!(expected_exit(&comment), 1);
    let (words, _) = shell_words(
        "caios-pack package --check --format json > check.json",
        &expand,
    );
    assert_eq!(
        words,
        ["caios-pack", "package", "--check", "--format", "json"]
    );
    let lines = logical_lines("caios-pack optimize \\\n  --max-latency 800ms\nls", 10);
    assert_eq!(lines[0].0, 10);
    assert_eq!(lines[1], (12, "ls".to_string()));
    let (words, _) = shell_words(&lines[0].1, &expand);
    assert_eq!(words, ["caios-pack", "optimize", "--max-latency", "800ms"]);
}
