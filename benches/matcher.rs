//! Pattern-table micro-benchmarks: the broker's `for_each_match` and the
//! dealer's `best_match` on tables of 10, 1 000 and 100 000 entries (80 %
//! exact, 10 % prefix, 10 % wildcard, over a small vocabulary so that prefix
//! and wildcard entries do match), queried with a fixed set of URIs: half of
//! them the table's own exact URIs, half random URIs of the same shape.
//!
//! Run with `cargo bench --bench matcher [filter]`; `filter` is a substring of
//! the case names. Each case is calibrated to run about 0.3 s and reports the
//! best of 5 samples. `matches/op` is the mean number of entries visited per
//! `for_each_match` (1 for a `best_match` that found one).

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use shardwamp::router::matcher::PatternTable;
use shardwamp::wamp::uri::MatchPolicy;

/// Time spent per case, split into this many samples.
const TARGET: Duration = Duration::from_millis(300);
const SAMPLES: u32 = 5;
/// Number of URIs each case queries in turn.
const QUERIES: usize = 1024;
const SIZES: [(usize, &str); 3] = [(10, "10"), (1_000, "1k"), (100_000, "100k")];

/// A small deterministic generator (xorshift64*), so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A concrete URI of 4 or 5 components, e.g. `com.app7.svc12.obj345.ev3`.
fn uri(rng: &mut Rng) -> Vec<String> {
    let mut c = vec![
        ["com", "org", "io"][rng.below(3) as usize].to_owned(),
        format!("app{}", rng.below(20)),
        format!("svc{}", rng.below(100)),
        format!("obj{}", rng.below(1000)),
    ];
    if rng.below(2) == 0 {
        c.push(format!("ev{}", rng.below(20)));
    }
    c
}

/// A table of `n` entries: 80 % exact, 10 % prefix (2 or 3 components, a
/// trailing `.` or a cut component now and then), 10 % wildcard (one or two
/// components blanked). Returns the table and its exact URIs.
fn table(n: usize, rng: &mut Rng) -> (PatternTable<u64>, Vec<String>) {
    let mut t = PatternTable::new();
    let mut exact = Vec::new();
    let mut id = 0u64;
    while t.len() < n {
        id += 1;
        let mut c = uri(rng);
        let (pattern, policy) = match id % 10 {
            0 => {
                c.truncate(2 + rng.below(2) as usize);
                let mut p = c.join(".");
                match rng.below(4) {
                    0 => p.push('.'),
                    1 => {
                        p.pop();
                    }
                    _ => {}
                }
                (p, MatchPolicy::Prefix)
            }
            5 => {
                for _ in 0..1 + rng.below(2) {
                    let k = rng.below(c.len() as u64) as usize;
                    c[k].clear();
                }
                (c.join("."), MatchPolicy::Wildcard)
            }
            _ => (c.join("."), MatchPolicy::Exact),
        };
        if t.insert(&pattern, policy, id).is_ok() && policy == MatchPolicy::Exact {
            exact.push(pattern);
        }
    }
    (t, exact)
}

fn queries(exact: &[String], rng: &mut Rng) -> Vec<String> {
    (0..QUERIES)
        .map(|i| {
            if i % 2 == 0 && !exact.is_empty() {
                exact[rng.below(exact.len() as u64) as usize].clone()
            } else {
                uri(rng).join(".")
            }
        })
        .collect()
}

/// Runs `op` over all `qs` repeatedly; returns (best ns per query, mean
/// matches per query).
fn measure(qs: &[String], mut op: impl FnMut(&str) -> usize) -> (f64, f64) {
    let pass = |op: &mut dyn FnMut(&str) -> usize| {
        let mut n = 0usize;
        for q in qs {
            n += op(black_box(q.as_str()));
        }
        black_box(n)
    };
    let matches = pass(&mut op) as f64 / qs.len() as f64;
    // Calibrate the number of passes per sample.
    let mut passes = 1u32;
    loop {
        let t = Instant::now();
        for _ in 0..passes {
            pass(&mut op);
        }
        if t.elapsed() >= TARGET / SAMPLES / 4 || passes >= 1 << 24 {
            break;
        }
        passes *= 2;
    }
    passes *= 4;
    let mut best = f64::INFINITY;
    for _ in 0..SAMPLES {
        let t = Instant::now();
        for _ in 0..passes {
            pass(&mut op);
        }
        let ns = t.elapsed().as_nanos() as f64 / (f64::from(passes) * qs.len() as f64);
        best = best.min(ns);
    }
    (best, matches)
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    println!("{:<26} {:>9} {:>11}", "case", "ns/op", "matches/op");
    let report = |name: &str, (ns, m): (f64, f64)| {
        println!("{name:<26} {ns:>9.1} {m:>11.2}");
    };
    for (n, label) in SIZES {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
        let (t, exact) = table(n, &mut rng);
        let qs = queries(&exact, &mut rng);

        let name = format!("for_each_match/{label}");
        if wanted(&name) {
            report(
                &name,
                measure(&qs, |u| {
                    let mut k = 0usize;
                    t.for_each_match(u, |_, _, v| {
                        black_box(v);
                        k += 1;
                    });
                    k
                }),
            );
        }
        let name = format!("best_match/{label}");
        if wanted(&name) {
            report(
                &name,
                measure(&qs, |u| usize::from(black_box(t.best_match(u)).is_some())),
            );
        }
        // Baseline: a plain exact lookup in a std HashMap (SipHash) of the same size.
        let name = format!("baseline_std_hashmap_get/{label}");
        if wanted(&name) {
            let map: HashMap<Box<str>, u64> = t
                .iter()
                .map(|(p, _, v)| (Box::<str>::from(p), *v))
                .collect();
            report(
                &name,
                measure(&qs, |u| usize::from(black_box(map.get(u)).is_some())),
            );
        }
    }
}
