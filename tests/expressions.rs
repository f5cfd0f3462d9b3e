//! Differential test of the expression language against DuckDB: the same expressions over the same
//! generated rows (with NULLs, mixed int/float comparisons, CASE, IN, LIKE, string functions), evaluated by a
//! `derive` operator of the real `weir` binary and by DuckDB reading the same JSONL; every value must agree.
//!
//! DuckDB comes from the Python package `tests/run.sh` installs; without it the test says so and passes,
//! unless `WEIR_REQUIRE_PY_READERS=1` (set by `tests/run.sh`), where a missing DuckDB fails it.

mod support;

use std::process::Command;
use support::*;

/// (weir expression, the same in DuckDB's dialect). They differ only where the dialects do: weir's `/` of
/// two integers is integer division (DuckDB's `//`).
const EXPRESSIONS: &[(&str, &str)] = &[
    ("i + j * 2 - 7", "i + j * 2 - 7"),
    (
        "CASE WHEN j = 0 THEN NULL ELSE i / j END",
        "CASE WHEN j = 0 THEN NULL ELSE i // j END",
    ),
    (
        "CASE WHEN j = 0 THEN NULL ELSE i % j END",
        "CASE WHEN j = 0 THEN NULL ELSE i % j END",
    ),
    ("f * 2.5 + i", "f * 2.5 + i"),
    ("f - g / 4", "f - g / 4"),
    ("i > f", "i > f"),
    ("i >= 3 AND f < 50.5", "i >= 3 AND f < 50.5"),
    ("i < 0 OR f IS NULL", "i < 0 OR f IS NULL"),
    ("NOT (i = j)", "NOT (i = j)"),
    ("i <> j OR s = 'x'", "i <> j OR s = 'x'"),
    ("f BETWEEN -10 AND 10", "f BETWEEN -10 AND 10"),
    ("i NOT BETWEEN 0 AND 5", "i NOT BETWEEN 0 AND 5"),
    ("i IN (1, 3, 5, 7)", "i IN (1, 3, 5, 7)"),
    ("i IN (1, NULL)", "i IN (1, NULL)"),
    ("s NOT IN ('alpha', 'beta')", "s NOT IN ('alpha', 'beta')"),
    ("s LIKE 'a%'", "s LIKE 'a%'"),
    ("s LIKE '_e%a'", "s LIKE '_e%a'"),
    ("s NOT LIKE '%mm%'", "s NOT LIKE '%mm%'"),
    ("s IS NULL", "s IS NULL"),
    ("f IS NOT NULL AND g IS NULL", "f IS NOT NULL AND g IS NULL"),
    (
        "CASE WHEN f > 50 THEN 'high' WHEN f > 0 THEN 'mid' ELSE 'low' END",
        "CASE WHEN f > 50 THEN 'high' WHEN f > 0 THEN 'mid' ELSE 'low' END",
    ),
    (
        "CASE i WHEN 1 THEN 10 WHEN 2 THEN 20.5 END",
        "CASE i WHEN 1 THEN 10 WHEN 2 THEN 20.5 END",
    ),
    ("coalesce(f, g, i)", "coalesce(f, g, i)"),
    ("coalesce(s, 'none')", "coalesce(s, 'none')"),
    ("CAST(i AS DOUBLE) / 3", "CAST(i AS DOUBLE) / 3"),
    ("CAST(i AS VARCHAR) || '-' || s", "CAST(i AS VARCHAR) || '-' || s"),
    ("CAST(j AS BIGINT) * 3", "CAST(j AS BIGINT) * 3"),
    ("abs(f)", "abs(f)"),
    ("abs(i - 5)", "abs(i - 5)"),
    ("sqrt(abs(f))", "sqrt(abs(f))"),
    ("ln(abs(g) + 1)", "ln(abs(g) + 1)"),
    ("exp(f / 100)", "exp(f / 100)"),
    ("power(f, 2)", "power(f, 2)"),
    ("floor(f)", "floor(f)"),
    ("ceil(g)", "ceil(g)"),
    ("round(f)", "round(f)"),
    ("least(i, j, 4)", "least(i, j, 4)"),
    ("greatest(f, g)", "greatest(f, g)"),
    ("lower(s) || upper(s)", "lower(s) || upper(s)"),
    ("length(s)", "length(s)"),
    ("substr(s, 2, 3)", "substr(s, 2, 3)"),
    ("substr(s, 3)", "substr(s, 3)"),
    ("s || i", "s || i"),
    ("-f + -i", "-f + -i"),
];

/// A deterministic generator of rows with NULLs.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn rows(n: usize) -> String {
    let words = [
        "alpha", "beta", "gamma", "delta", "xena", "a", "", "mmm", "zeta", "Beta", "sierra",
    ];
    let mut g = Lcg(42);
    let mut out = String::new();
    for id in 0..n {
        let field = |name: &str, v: String, g: &mut Lcg| {
            if g.next().is_multiple_of(7) {
                format!(",\"{name}\":null")
            } else {
                format!(",\"{name}\":{v}")
            }
        };
        let i = field("i", format!("{}", g.next() % 21), &mut g);
        let j = field("j", format!("{}", (g.next() % 9) as i64 - 4), &mut g);
        // Floats with a third decimal digit so that no value is a rounding tie.
        let f = field(
            "f",
            format!("{:.3}", (g.next() % 200_000) as f64 / 1000.0 - 100.0 + 0.0005),
            &mut g,
        );
        let gg = field(
            "g",
            format!("{:.3}", (g.next() % 40_000) as f64 / 1000.0 - 20.0 + 0.0005),
            &mut g,
        );
        let s = field(
            "s",
            format!("\"{}\"", words[(g.next() % words.len() as u64) as usize]),
            &mut g,
        );
        out.push_str(&format!(
            "{{\"id\":{id},\"ts\":{}{i}{j}{f}{gg}{s}}}\n",
            1_700_000_000_000i64 + id as i64
        ));
    }
    out
}

#[test]
fn expressions_agree_with_duckdb() {
    if !have_duckdb() {
        eprintln!("skipped: no DuckDB for python3");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("rows.jsonl");
    std::fs::write(&input, rows(3000)).unwrap();
    let mut fields = String::new();
    for (n, (e, _)) in EXPRESSIONS.iter().enumerate() {
        fields.push_str(&format!("e{n} = {e:?}\n"));
    }
    let job = tmp.path().join("exprs.toml");
    std::fs::write(
        &job,
        format!(
            r#"[job]
name = "exprs"
[sources.rows]
kind = "file"
path = "{}"
schema = {{ id = "int", ts = "int", i = "int?", j = "int?", f = "float?", g = "float?", s = "string?" }}
[operators.computed]
kind = "derive"
inputs = ["rows"]
[operators.computed.fields]
{fields}
[sinks.out]
kind = "jsonl"
inputs = ["computed"]
path = "{}"
[sinks.dead_letters]
kind = "jsonl"
path = "{}"
"#,
            input.display(),
            tmp.path().join("out.jsonl").display(),
            tmp.path().join("dead.jsonl").display()
        ),
    )
    .unwrap();
    ok(weir().arg("run").arg(&job).args(["--quiet", "--workers", "2"]));
    let dead = std::fs::read_to_string(tmp.path().join("dead.jsonl")).unwrap();
    assert!(dead.is_empty(), "no expression may fail on these rows: {dead}");
    let ours = read_jsonl(&tmp.path().join("out.jsonl"));
    assert_eq!(ours.len(), 3000);

    let select: Vec<String> = EXPRESSIONS
        .iter()
        .enumerate()
        .map(|(n, (_, d))| format!("({d}) AS e{n}"))
        .collect();
    let script = format!(
        r#"
import duckdb, json, sys
con = duckdb.connect()
rows = con.sql("""SELECT id, {} FROM read_json('{}', format='newline_delimited',
    columns={{'id':'BIGINT','ts':'BIGINT','i':'BIGINT','j':'BIGINT','f':'DOUBLE','g':'DOUBLE','s':'VARCHAR'}}) ORDER BY id""")
names = [d[0] for d in rows.description]
for r in rows.fetchall():
    print(json.dumps(dict(zip(names, r)), default=float))
"#,
        select.join(", "),
        input.display()
    );
    let out = Command::new("python3").args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "duckdb: {}", String::from_utf8_lossy(&out.stderr));
    let theirs: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(theirs.len(), ours.len());

    let mut nulls = vec![0usize; EXPRESSIONS.len()];
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a["id"], b["id"]);
        for (n, (e, _)) in EXPRESSIONS.iter().enumerate() {
            let key = format!("e{n}");
            let (x, y) = (&a[&key], &b[&key]);
            let same = match (x, y) {
                (serde_json::Value::Number(p), serde_json::Value::Number(q)) => {
                    let (p, q) = (p.as_f64().unwrap(), q.as_f64().unwrap());
                    p == q || ((p - q) / q.abs().max(1e-300)).abs() < 1e-12
                }
                _ => x == y,
            };
            assert!(same, "`{e}` on row {}: weir {x}, DuckDB {y}", a["id"]);
            nulls[n] += x.is_null() as usize;
        }
    }
    // The rows exercise NULLs without making every expression NULL.
    for (n, (e, _)) in EXPRESSIONS.iter().enumerate() {
        assert!(nulls[n] < ours.len(), "`{e}` is NULL on every row");
    }
    assert!(nulls.iter().any(|n| *n > 0));
}
