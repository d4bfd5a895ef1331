use super::*;
use std::io::Read;

fn load_text(text: &str) -> Result<Stats> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stats");
    std::fs::write(&path, text).unwrap();
    Stats::load(&[path])
}

#[test]
fn histogram_median_is_within_five_percent() {
    let mut h = Histogram::default();
    for v in [10, 1000, 1000, 1000, 50_000] {
        h.add(v);
    }
    let median = h.median().unwrap() as f64;
    assert!((median - 1000.0).abs() / 1000.0 < 0.05, "{median}");
    assert_eq!(Histogram::default().median(), None);
}

#[test]
fn emf_lines_with_and_without_prefix() {
    let text = concat!(
        r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]},"caios":"cold-start","schema":1,"modules":[["numpy","local",100,900],["pandas","s3",50,500]],"invocation_modules":[["scipy","s3",10,20]]}"#,
        "\n",
        r#"2026-11-27T01:00:00.000Z	req-1	{"_aws":{"Timestamp":2,"CloudWatchMetrics":[]},"caios":"cold-start","schema":1,"modules":[["numpy","local",120,1000]],"invocation_modules":[]}"#,
        "\n",
        "garbage line\n",
        r#"{"_aws":{},"caios":"cold-start","modules":"not a list"}"#,
        "\n"
    );
    let stats = load_text(text).unwrap();
    assert_eq!((stats.cold_starts, stats.invocations), (2, 2));
    assert_eq!(stats.init_probability("numpy"), Some(1.0));
    assert_eq!(stats.init_probability("pandas"), Some(0.5));
    assert_eq!(stats.invocation_probability("scipy"), Some(0.5));
    assert_eq!(stats.init_probability("never-seen"), Some(0.0));
    assert_eq!(stats.skipped_lines, 2);
    let lines: Vec<_> = stats.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [Some(3), Some(4)]);
}

/// Real stderr of `python3 -X importtime`, captured into fixtures/stats.
#[test]
fn real_importtime_output() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stats");
    let json = Stats::load(&[dir.join("importtime-json.txt")]).unwrap();
    assert_eq!((json.cold_starts, json.invocations), (1, 0));
    assert_eq!(json.init_probability("json"), Some(1.0));
    assert!(
        json.modules["json.decoder"].cumulative_us.unwrap()
            >= json.modules["json.decoder"].self_us.unwrap()
    );
    let reference = Stats::load(&[dir.join("importtime-reference.txt")]).unwrap();
    assert_eq!(reference.skipped_lines, 0);
    assert!(
        reference.modules.len() > 1200,
        "{}",
        reference.modules.len()
    );
    let handler = &reference.modules["handler"];
    // handler's cumulative time is the whole import (1,710,994 µs when
    // captured); the histogram median is within 4.4 % of it.
    let cumulative = handler.cumulative_us.unwrap() as f64;
    assert!(
        (cumulative - 1_710_994.0).abs() / 1_710_994.0 < 0.045,
        "{cumulative}"
    );
    // Both files merged: two cold starts; json was loaded in both.
    let both = Stats::load(&[
        dir.join("importtime-json.txt"),
        dir.join("importtime-reference.txt"),
    ])
    .unwrap();
    assert_eq!(both.cold_starts, 2);
    assert_eq!(both.init_probability("numpy"), Some(0.5));
}

#[test]
fn aggregate_csv() {
    let text = "module,cold_starts,init_loads,invocations,invocation_loads,median_self_us,median_cumulative_us\n\
                numpy,1000,1000,50000,0,2000,90000\n\
                pandas.io.formats.style,1000,0,50000,250,8000,12000\n\
                bad,row\n";
    let stats = load_text(text).unwrap();
    assert_eq!((stats.cold_starts, stats.invocations), (1000, 50000));
    assert_eq!(
        stats.invocation_probability("pandas.io.formats.style"),
        Some(0.005)
    );
    assert_eq!(stats.skipped_lines, 1);
}

#[test]
fn quoted_csv_from_a_sql_export() {
    let text = "\"module\",\"cold_starts\",\"init_loads\",\"invocations\",\"invocation_loads\"\n\
                \"numpy\",\"10\",\"10\",\"40\",\"0\"\n";
    let stats = load_text(text).unwrap();
    assert_eq!((stats.cold_starts, stats.invocations), (10, 40));
    assert_eq!(stats.init_probability("numpy"), Some(1.0));
}

#[test]
fn an_empty_file_has_no_observations() {
    for text in [
        "",
        "\n\n",
        "module,cold_starts,init_loads,invocations,invocation_loads\n",
        "\n\"module\",\"cold_starts\",\"init_loads\",\"invocations\",\"invocation_loads\"\n",
    ] {
        let stats = load_text(text).unwrap();
        assert_eq!((stats.cold_starts, stats.invocations), (0, 0), "{text:?}");
    }
}

#[test]
fn nothing_usable_is_an_input_error() {
    let err = load_text("{\"_aws\": {}, \"caios\": \"x\"}\nnope\n").unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    let err = load_text("hello\n").unwrap_err();
    assert!(
        err.to_string().contains(":1: not a statistics file"),
        "{err}"
    );
    let err = load_text("{\"format\": \"caios-pack-stats\", \"modules\": [}").unwrap_err();
    assert!(
        err.to_string().contains("not a caios-pack trace file"),
        "{err}"
    );
}
/// Hands out one byte per `read`, so a `BufReader` over it may hold any
/// prefix of a multi-byte character at the end of its buffer.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some((&byte, rest)) = self.0.split_first() else {
            return Ok(0);
        };
        if buf.is_empty() {
            return Ok(0);
        }
        buf[0] = byte;
        self.0 = rest;
        Ok(1)
    }
}

/// Per module: init loads, invocation loads, median self time.
type Summary = (StatsFormat, u64, u64, Vec<(String, u64, u64, Option<u64>)>);

fn read_in_chunks(text: &str, capacity: usize) -> Summary {
    let reader = BufReader::with_capacity(capacity, Trickle(text.as_bytes()));
    let (format, tally) = read_file(reader, Path::new("stats")).unwrap();
    let modules = tally
        .entries
        .iter()
        .map(|(name, m)| {
            let own = m.self_hist.median();
            (name.clone(), m.init_loads, m.invocation_loads, own)
        })
        .collect();
    (format, tally.cold_starts, tally.invocations, modules)
}

/// Regression: a trace whose first line held a non-ASCII character
/// panicked (`is_char_boundary`) when serde_json read the peeked line
/// back one byte at a time. Every format, every read size, characters of
/// two, three and four bytes on the first line and after it.
#[test]
fn multi_byte_characters_across_read_boundaries() {
    let trace_one_line = r#"{"format":"caios-pack-stats","handler":"hé.h","events":[{"name":"ça"}],"modules":[{"name":"café","phase":"init","self_us":7,"cumulative_us":9},{"name":"日本","phase":"ça","self_us":3,"cumulative_us":4},{"name":"🐍","phase":"preloaded"}]}"#;
    let trace_pretty = "{\n  \"format\": \"caios-pack-stats\",\n  \"handler\": \"日本.h\",\n  \"modules\": [{\"name\": \"🐍é\", \"phase\": \"init\", \"self_us\": 5}]\n}\n";
    let importtime = "import time: self [us] | cumulative | imported package é\n\
                      import time:        12 |         12 | café\n\
                      warning: ünïcode on stderr 🐍\n\
                      import time:         5 |         17 |   日本.🐍\n";
    let emf = concat!(
        r#"2026-11-27T01:00:00Z	réq-ü	{"_aws":{},"caios":"cold-start","function":"café","modules":[["ça","local",3,4]],"invocation_modules":[["日本","s3",5,6]]}"#,
        "\n",
        r#"{"_aws":{},"caios":"cold-start","modules":[["🐍","efs",8,9]]}"#,
        "\n"
    );
    let csv = "module,cold_starts,init_loads,invocations,invocation_loads,median_self_us,median_cumulative_us é\n\
               café,10,10,40,0,20,30\n\
               日本.🐍,10,0,40,4,5,6\n";
    let cases = [
        (
            trace_one_line,
            StatsFormat::Trace,
            ["café", "日本"].as_slice(),
        ),
        (trace_pretty, StatsFormat::Trace, ["🐍é"].as_slice()),
        (
            importtime,
            StatsFormat::ImportTime,
            ["café", "日本.🐍"].as_slice(),
        ),
        (emf, StatsFormat::Emf, ["ça", "日本", "🐍"].as_slice()),
        (
            csv,
            StatsFormat::AggregateCsv,
            ["café", "日本.🐍"].as_slice(),
        ),
    ];
    for (text, format, names) in cases {
        let whole = read_in_chunks(text, 1 << 16);
        assert_eq!(whole.0, format, "{text}");
        let seen: Vec<&str> = whole.3.iter().map(|m| m.0.as_str()).collect();
        assert_eq!(seen, names, "{text}");
        for capacity in [1, 2, 3, 5, 7, 11] {
            assert_eq!(read_in_chunks(text, capacity), whole, "{capacity}: {text}");
        }
        // And through the public entry point.
        let stats = load_text(text).unwrap();
        assert!(names.iter().all(|n| stats.modules.contains_key(*n)));
    }
}

fn trace(modules: &str, extra: &str) -> String {
    format!(
        r#"{{"format":"caios-pack-stats","version":1,"events":[{{"name":"a"}},{{"name":"b"}}],"modules":[{modules}]{extra}}}"#
    )
}

fn load_texts(texts: &[String]) -> Stats {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let path = dir.path().join(format!("stats-{i}"));
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect();
    Stats::load(&paths).unwrap()
}

#[test]
fn probe_fields_of_modules() {
    let old = trace(
        r#"{"name":"m","phase":"init","self_us":1,"cumulative_us":2,"functions_ran":true}"#,
        "",
    );
    let probed = |effects: &str, in_cycle: &str| {
        trace(
            &format!(
                r#"{{"name":"m","phase":"init","self_us":1,"cumulative_us":2{effects}{in_cycle}}}"#
            ),
            r#","probe":1"#,
        )
    };
    let importtime = "import time:         5 |         17 | m\n".to_string();
    // (files, effects of m, in_cycle of m, probed)
    type Case = (Vec<String>, Option<Vec<&'static str>>, bool, bool);
    let cases: Vec<Case> = vec![
        (vec![old.clone()], None, false, false),
        (vec![probed("", "")], None, false, true),
        (
            vec![probed(r#","effects":[]"#, "")],
            Some(vec![]),
            false,
            true,
        ),
        (
            vec![probed(
                r#","effects":["socket","env"]"#,
                r#","in_cycle":true"#,
            )],
            Some(vec!["env", "socket"]),
            true,
            true,
        ),
        (
            vec![
                probed(r#","effects":["thread","env"]"#, r#","in_cycle":false"#),
                probed(r#","effects":["env","socket"]"#, r#","in_cycle":true"#),
            ],
            Some(vec!["env", "socket", "thread"]),
            true,
            true,
        ),
        // Merged with a file that did not probe: effects still the union
        // of what was probed, but not every trace was probed.
        (
            vec![old.clone(), probed(r#","effects":[]"#, "")],
            Some(vec![]),
            false,
            false,
        ),
        // Other formats carry no probe and do not change `probed`.
        (
            vec![importtime.clone(), probed(r#","effects":["x"]"#, "")],
            Some(vec!["x"]),
            false,
            true,
        ),
        (vec![importtime], None, false, false),
    ];
    for (texts, effects, in_cycle, is_probed) in cases {
        let stats = load_texts(&texts);
        let m = &stats.modules["m"];
        let expected = effects.map(|e| e.into_iter().map(String::from).collect::<Vec<_>>());
        assert_eq!(m.effects, expected, "{texts:?}");
        assert_eq!(m.in_cycle, in_cycle, "{texts:?}");
        assert_eq!(stats.probed, is_probed, "{texts:?}");
    }
}

#[test]
fn probe_files_opened_and_loaded() {
    let with_files = |files: &str| trace("", &format!(r#","probe":1,"files":[{files}]"#));
    let row = |path: &str, phase: &str, how: &str| {
        format!(r#"{{"path":"{path}","phase":"{phase}","how":"{how}"}}"#)
    };
    let old = trace("", "");
    let model = Path::new("/var/task/model.bin");
    let lib = Path::new("/var/task/libx.so");
    // (traces, path, init probability, invocation probability, how)
    type Case = (
        Vec<String>,
        &'static Path,
        Option<f64>,
        Option<f64>,
        Option<FileHow>,
    );
    let cases: Vec<Case> = vec![
        (vec![old.clone()], model, None, None, None),
        (vec![with_files("")], model, Some(0.0), Some(0.0), None),
        (
            vec![with_files(&row("/var/task/model.bin", "init", "open"))],
            model,
            Some(1.0),
            Some(0.0),
            Some(FileHow::Open),
        ),
        // Two events of the same trace each load it: 2 of 2 invocations;
        // a repeated row counts once; a preloaded phase is ignored.
        (
            vec![with_files(
                &[
                    row("/var/task/libx.so", "a", "dlopen"),
                    row("/var/task/libx.so", "b", "open"),
                    row("/var/task/libx.so", "b", "open"),
                    row("/var/task/libx.so", "preloaded", "open"),
                ]
                .join(","),
            )],
            lib,
            Some(0.0),
            Some(1.0),
            Some(FileHow::Dlopen),
        ),
        // Traces without `files` do not dilute the probabilities; a
        // trace with files that did not see the path does.
        (
            vec![
                old.clone(),
                with_files(&row("/var/task/model.bin", "init", "open")),
                with_files(""),
            ],
            model,
            Some(0.5),
            Some(0.0),
            Some(FileHow::Open),
        ),
        (
            vec![
                with_files(&row("/var/task/libx.so", "init", "open")),
                with_files(&row("/var/task/libx.so", "init", "dlopen")),
            ],
            lib,
            Some(1.0),
            Some(0.0),
            Some(FileHow::Dlopen),
        ),
    ];
    for (texts, path, init, invocation, how) in cases {
        let stats = load_texts(&texts);
        assert_eq!(stats.file_init_probability(path), init, "{texts:?}");
        assert_eq!(
            stats.file_invocation_probability(path),
            invocation,
            "{texts:?}"
        );
        assert_eq!(
            stats.opened_files.get(path).map(|f| f.how),
            how,
            "{texts:?}"
        );
    }
    let bad_how = with_files(&row("/x", "init", "mmap"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t"), bad_how).unwrap();
    let err = Stats::load(&[dir.path().join("t")]).unwrap_err();
    assert!(err.to_string().contains("unknown variant"), "{err}");
}

/// A trace without the probe's fields reads as it always did.
#[test]
fn an_old_trace_reads_as_before() {
    let text = trace(
        r#"{"name":"m","phase":"init","self_us":100,"cumulative_us":200,"functions_ran":false},{"name":"n","phase":"b","self_us":3,"cumulative_us":4}"#,
        "",
    );
    let stats = load_texts(&[text]);
    assert_eq!((stats.cold_starts, stats.invocations), (1, 2));
    assert_eq!(stats.init_probability("m"), Some(1.0));
    assert_eq!(stats.invocation_probability("n"), Some(0.5));
    assert_eq!(stats.modules["m"].functions_ran, Some(false));
    assert!(!stats.probed && stats.opened_files.is_empty());
    assert!(stats
        .modules
        .values()
        .all(|m| m.effects.is_none() && !m.in_cycle));
    assert_eq!((stats.file_cold_starts, stats.file_invocations), (0, 0));
    let json = serde_json::to_value(&stats.modules["m"]).unwrap();
    assert!(json.get("effects").is_none() && json.get("in_cycle").is_none());
}

#[test]
fn huge_csv_counts_saturate() {
    let max = u64::MAX;
    let text = format!(
        "module,cold_starts,init_loads,invocations,invocation_loads,median_self_us,median_cumulative_us\n\
         m,{max},{max},{max},{max},{max},{max}\n\
         m,{max},{max},{max},{max},{max},{max}\n"
    );
    let stats = load_texts(&[text.clone(), text]);
    assert_eq!(stats.cold_starts, max);
    assert_eq!(stats.modules["m"].init_loads, max);
    assert!(stats.modules["m"].self_us.is_some());
}

#[test]
fn text_that_is_not_utf8_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    for bytes in [
        &b"import time: 1 | 2 | \xff\n"[..],
        b"\xfe\xff{}",
        b"{\"format\": \"\xff\"}",
    ] {
        let path = dir.path().join("t");
        std::fs::write(&path, bytes).unwrap();
        let err = Stats::load(&[path]).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
    }
}
