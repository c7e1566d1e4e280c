//! The results of a benchmark run: latency statistics and the error
//! distribution, rendered as etcd `tools/benchmark`'s text report
//! (`pkg/report`: Summary, Response time histogram, Latency distribution,
//! Error distribution) or as one JSON object for scripts.

use std::collections::BTreeMap;
use std::time::Duration;

/// The percentiles etcd's report prints.
pub const PERCENTILES: [f64; 8] = [10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9];

/// What the clients observed.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Latency of every successful request.
    pub latencies: Vec<Duration>,
    /// Failed requests, counted by error message.
    pub errors: BTreeMap<String, u64>,
    /// Wall time from the first request to the last response.
    pub elapsed: Duration,
}

impl Outcome {
    /// Waits for every client task and merges what they observed; a task that
    /// died counts as one error. `elapsed` runs from `start` to the last one.
    pub async fn gather(
        tasks: Vec<tokio::task::JoinHandle<Outcome>>,
        start: tokio::time::Instant,
    ) -> Outcome {
        let mut outcome = Outcome::default();
        for task in tasks {
            match task.await {
                Ok(part) => {
                    outcome.latencies.extend(part.latencies);
                    for (message, count) in part.errors {
                        *outcome.errors.entry(message).or_default() += count;
                    }
                }
                Err(e) => {
                    *outcome
                        .errors
                        .entry(format!("benchmark client failed: {e}"))
                        .or_default() += 1;
                }
            }
        }
        outcome.elapsed = start.elapsed();
        outcome
    }
}

/// Statistics over an outcome; latencies in seconds.
#[derive(Debug)]
pub struct Report {
    pub total: u64,
    pub succeeded: u64,
    pub errors: BTreeMap<String, u64>,
    pub elapsed: f64,
    /// Successful requests per second.
    pub rps: f64,
    /// Sorted latencies.
    pub lats: Vec<f64>,
    pub fastest: f64,
    pub slowest: f64,
    pub average: f64,
    pub stddev: f64,
    /// One value per entry of `PERCENTILES`.
    pub percentiles: Vec<f64>,
}

impl Report {
    pub fn new(outcome: Outcome) -> Report {
        let mut lats: Vec<f64> = outcome
            .latencies
            .iter()
            .map(Duration::as_secs_f64)
            .collect();
        lats.sort_by(f64::total_cmp);
        let n = lats.len();
        let elapsed = outcome.elapsed.as_secs_f64();
        let average = if n == 0 {
            0.0
        } else {
            lats.iter().sum::<f64>() / n as f64
        };
        let variance = if n == 0 {
            0.0
        } else {
            lats.iter().map(|l| (l - average).powi(2)).sum::<f64>() / n as f64
        };
        let failed: u64 = outcome.errors.values().sum();
        Report {
            total: n as u64 + failed,
            succeeded: n as u64,
            errors: outcome.errors,
            elapsed,
            rps: if elapsed > 0.0 {
                n as f64 / elapsed
            } else {
                0.0
            },
            fastest: lats.first().copied().unwrap_or(0.0),
            slowest: lats.last().copied().unwrap_or(0.0),
            average,
            stddev: variance.sqrt(),
            percentiles: percentiles(&lats),
            lats,
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// etcd's text report.
    pub fn simple(&self) -> String {
        let mut s = String::new();
        let secs = |v: f64| format!("{v:4.4} secs");
        if !self.lats.is_empty() {
            s += "\nSummary:\n";
            s += &format!("  Total:\t{}.\n", secs(self.elapsed));
            s += &format!("  Slowest:\t{}.\n", secs(self.slowest));
            s += &format!("  Fastest:\t{}.\n", secs(self.fastest));
            s += &format!("  Average:\t{}.\n", secs(self.average));
            s += &format!("  Stddev:\t{}.\n", secs(self.stddev));
            s += &format!("  Requests/sec:\t{:4.4}\n", self.rps);
            s += &self.histogram();
            s += "\nLatency distribution:\n";
            for (p, v) in PERCENTILES.iter().zip(&self.percentiles) {
                s += &format!("  {p}% in {}.\n", secs(*v));
            }
            s += &format!("  max in {}.\n", secs(self.slowest));
        }
        s += &format!(
            "\nRequests:\t{} total, {} succeeded, {} failed\n",
            self.total,
            self.succeeded,
            self.error_count()
        );
        if !self.errors.is_empty() {
            s += "\nError distribution:\n";
            for (message, count) in &self.errors {
                s += &format!("  [{count}]\t{message}\n");
            }
        }
        s
    }

    /// pkg/report's histogram: 10 equal buckets from fastest to slowest.
    fn histogram(&self) -> String {
        const BUCKETS: usize = 10;
        let step = (self.slowest - self.fastest) / BUCKETS as f64;
        let mut bounds: Vec<f64> = (0..BUCKETS)
            .map(|i| self.fastest + step * i as f64)
            .collect();
        bounds.push(self.slowest);
        let mut counts = vec![0usize; bounds.len()];
        let mut b = 0;
        for &lat in &self.lats {
            while lat > bounds[b] && b < bounds.len() - 1 {
                b += 1;
            }
            counts[b] += 1;
        }
        let max = counts.iter().copied().max().unwrap_or(0);
        let mut s = String::from("\nResponse time histogram:\n");
        for (bound, count) in bounds.iter().zip(&counts) {
            let bar = (count * 40).checked_div(max).unwrap_or(0);
            s += &format!("  {bound:4.4} [{count}]\t|{}\n", "∎".repeat(bar));
        }
        s
    }

    /// One JSON object; times in seconds.
    pub fn json(&self) -> serde_json::Value {
        let mut latency = serde_json::Map::new();
        latency.insert("fastest".into(), self.fastest.into());
        latency.insert("slowest".into(), self.slowest.into());
        latency.insert("average".into(), self.average.into());
        latency.insert("stddev".into(), self.stddev.into());
        for (p, v) in PERCENTILES.iter().zip(&self.percentiles) {
            latency.insert(format!("p{p}"), (*v).into());
        }
        latency.insert("max".into(), self.slowest.into());
        serde_json::json!({
            "total": self.total,
            "succeeded": self.succeeded,
            "errors": self.error_count(),
            "error_distribution": self.errors,
            "elapsed": self.elapsed,
            "throughput": self.rps,
            "latency": latency,
        })
    }
}

/// pkg/report's percentiles over sorted `lats`: the first latency at or
/// past each percentile's rank.
fn percentiles(lats: &[f64]) -> Vec<f64> {
    let n = lats.len();
    let mut out = vec![0.0; PERCENTILES.len()];
    let mut j = 0;
    for (i, &lat) in lats.iter().enumerate() {
        if j >= PERCENTILES.len() {
            break;
        }
        let current = i as f64 * 100.0 / n as f64;
        while j < PERCENTILES.len() && current >= PERCENTILES[j] {
            out[j] = lat;
            j += 1;
        }
    }
    // Percentiles beyond the last rank (few samples) are the slowest one.
    for v in out.iter_mut().skip(j) {
        *v = lats.last().copied().unwrap_or(0.0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(ms: &[u64], errors: &[(&str, u64)]) -> Outcome {
        Outcome {
            latencies: ms.iter().map(|m| Duration::from_millis(*m)).collect(),
            errors: errors.iter().map(|(m, c)| (m.to_string(), *c)).collect(),
            elapsed: Duration::from_secs(2),
        }
    }

    #[test]
    fn statistics() {
        let r = Report::new(outcome(
            &(1..=100).rev().collect::<Vec<_>>(),
            &[("boom", 3)],
        ));
        assert_eq!(r.total, 103);
        assert_eq!(r.succeeded, 100);
        assert_eq!(r.error_count(), 3);
        assert!((r.rps - 50.0).abs() < 1e-9);
        assert!((r.fastest - 0.001).abs() < 1e-9);
        assert!((r.slowest - 0.1).abs() < 1e-9);
        assert!(
            (r.percentiles[2] - 0.051).abs() < 1e-9,
            "{:?}",
            r.percentiles
        );
        assert!((r.percentiles[7] - 0.1).abs() < 1e-9, "{:?}", r.percentiles);
    }

    #[test]
    fn simple_text_has_etcd_sections() {
        let text = Report::new(outcome(&[1, 2, 3], &[("boom", 1)])).simple();
        for part in [
            "Summary:\n  Total:\t2.0000 secs.\n",
            "  Slowest:\t0.0030 secs.\n",
            "Requests/sec:\t1.5000\n",
            "Response time histogram:\n",
            "  50% in 0.0030 secs.\n",
            "  99.9% in 0.0030 secs.\n",
            "Error distribution:\n  [1]\tboom\n",
        ] {
            assert!(text.contains(part), "{part:?} not in {text}");
        }
    }

    #[test]
    fn json_has_counts_and_latencies() {
        let v = Report::new(outcome(&[1, 2], &[])).json();
        assert_eq!(v["total"], 2);
        assert_eq!(v["errors"], 0);
        assert!(v["latency"]["p99.9"].as_f64().is_some());
        assert!(v["throughput"].as_f64().is_some());
    }

    #[test]
    fn empty_run() {
        let r = Report::new(outcome(&[], &[("down", 2)]));
        assert_eq!(r.total, 2);
        assert!(r.simple().contains("[2]\tdown"));
    }
}
