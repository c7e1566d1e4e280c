//! The process metrics Prometheus clients export (`process_*`) and etcd's
//! `os_fd_used`/`os_fd_limit`, read from `/proc` at each scrape. Where `/proc`
//! cannot be read (not Linux), the gauges stay at 0.

use prometheus::{Counter, Gauge, IntGauge, Registry};

use crate::metrics::{clamp, gauge};

/// Clock ticks per second in `/proc/<pid>/stat` (Linux's `USER_HZ`).
const TICKS_PER_SECOND: f64 = 100.0;

pub struct ProcessGauges {
    cpu_seconds: Counter,
    resident_bytes: IntGauge,
    virtual_bytes: IntGauge,
    virtual_max_bytes: Gauge,
    start_time: Gauge,
    open_fds: IntGauge,
    max_fds: IntGauge,
    fd_used: IntGauge,
    fd_limit: IntGauge,
}

fn float_gauge(name: &str, help: &str) -> Gauge {
    Gauge::new(name, help).expect("a valid gauge name")
}

impl ProcessGauges {
    pub fn new() -> ProcessGauges {
        ProcessGauges {
            cpu_seconds: Counter::new(
                "process_cpu_seconds_total",
                "User and system CPU time spent, in seconds.",
            )
            .expect("a valid counter name"),
            resident_bytes: gauge("process_resident_memory_bytes", "Resident memory size."),
            virtual_bytes: gauge("process_virtual_memory_bytes", "Virtual memory size."),
            virtual_max_bytes: float_gauge(
                "process_virtual_memory_max_bytes",
                "Largest virtual memory size allowed (the address space limit).",
            ),
            start_time: float_gauge(
                "process_start_time_seconds",
                "Start time of the process, in seconds since the Unix epoch.",
            ),
            open_fds: gauge("process_open_fds", "Open file descriptors."),
            max_fds: gauge("process_max_fds", "Limit on open file descriptors."),
            fd_used: gauge("os_fd_used", "Open file descriptors."),
            fd_limit: gauge("os_fd_limit", "Limit on open file descriptors."),
        }
    }

    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.cpu_seconds.clone()))?;
        for g in [&self.virtual_max_bytes, &self.start_time] {
            registry.register(Box::new(g.clone()))?;
        }
        for g in [
            &self.resident_bytes,
            &self.virtual_bytes,
            &self.open_fds,
            &self.max_fds,
            &self.fd_used,
            &self.fd_limit,
        ] {
            registry.register(Box::new(g.clone()))?;
        }
        Ok(())
    }

    /// Reads the process's figures now.
    pub fn update(&self) {
        if let Some(stat) = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| ProcStat::parse(&s))
        {
            let cpu = (stat.utime + stat.stime) as f64 / TICKS_PER_SECOND;
            let counted = self.cpu_seconds.get();
            if cpu > counted {
                self.cpu_seconds.inc_by(cpu - counted);
            }
            self.virtual_bytes.set(clamp(stat.vsize));
            self.resident_bytes
                .set(clamp(stat.rss_pages.saturating_mul(page_size())));
            if let Some(boot) = boot_time() {
                self.start_time
                    .set(boot as f64 + stat.start_ticks as f64 / TICKS_PER_SECOND);
            }
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            // The directory listing itself holds one descriptor.
            let open = fds.count().saturating_sub(1);
            self.open_fds.set(clamp(open as u64));
            self.fd_used.set(clamp(open as u64));
        }
        if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
            if let Some(files) = soft_limit(&limits, "Max open files") {
                self.max_fds.set(clamp(files));
                self.fd_limit.set(clamp(files));
            }
            if let Some(space) = soft_limit(&limits, "Max address space") {
                self.virtual_max_bytes.set(space as f64);
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn page_size() -> u64 {
    // SAFETY: sysconf only reads a constant of the system.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}

#[cfg(not(target_os = "linux"))]
fn page_size() -> u64 {
    4096
}

/// The fields of `/proc/<pid>/stat` these metrics use.
#[derive(Debug, PartialEq, Eq)]
struct ProcStat {
    utime: u64,
    stime: u64,
    start_ticks: u64,
    vsize: u64,
    rss_pages: u64,
}

impl ProcStat {
    fn parse(stat: &str) -> Option<ProcStat> {
        // The command name (field 2) is in parentheses and may hold spaces
        // or parentheses itself: the fields after it start at the last ')'.
        let (_, rest) = stat.rsplit_once(')')?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3 (state).
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        Some(ProcStat {
            utime: field(14)?,
            stime: field(15)?,
            start_ticks: field(22)?,
            vsize: field(23)?,
            rss_pages: field(24)?,
        })
    }
}

/// The system's boot time, seconds since the epoch (`btime` in `/proc/stat`).
fn boot_time() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft limit of `name` in `/proc/<pid>/limits`; `unlimited` is
/// `u64::MAX`, as Prometheus's Go client reports it.
fn soft_limit(limits: &str, name: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with(name))?;
    let soft = line[name.len()..].split_whitespace().next()?;
    if soft == "unlimited" {
        return Some(u64::MAX);
    }
    soft.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_the_command_name() {
        let line = "4242 (cairn (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 9 0 12345 987654321 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            ProcStat::parse(line),
            Some(ProcStat {
                utime: 250,
                stime: 75,
                start_ticks: 12345,
                vsize: 987654321,
                rss_pages: 2048,
            })
        );
        assert_eq!(ProcStat::parse("garbage"), None);
        assert_eq!(ProcStat::parse("1 (x) S 1 2"), None);
    }

    #[test]
    fn soft_limits_are_read_by_name() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 4096                 files\n\
                      Max address space         unlimited            unlimited            bytes\n";
        assert_eq!(soft_limit(limits, "Max open files"), Some(1024));
        assert_eq!(soft_limit(limits, "Max address space"), Some(u64::MAX));
        assert_eq!(soft_limit(limits, "Max processes"), None);
    }

    #[test]
    fn this_process_is_measured() {
        let gauges = ProcessGauges::new();
        gauges.update();
        assert!(gauges.resident_bytes.get() > 0);
        assert!(gauges.open_fds.get() > 0);
        assert!(gauges.max_fds.get() > 0);
        assert!(gauges.start_time.get() > 1.0e9, "seconds since 1970");
    }
}
