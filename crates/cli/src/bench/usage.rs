//! CPU time and memory of a process, read from Linux's /proc at the edges of the measured
//! window: the server's (`--server-pid`) and the load generator's own. CPU time per message
//! and memory per connection thus come from the run that counted the messages and held the
//! connections, and the load generator's CPU share shows whether it was the bottleneck.
//!
//! CPU time is the process's user plus system time over all its threads (`utime` + `stime` in
//! /proc/PID/stat, in clock ticks of usually 10 ms); memory is its resident set (`VmRSS` in
//! /proc/PID/status), which does not include the kernel's socket buffers.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::Plan;

/// The memory reading is taken this long before the end at most, while every connection is
/// surely still open (they start closing at the end).
const MEMORY_MARGIN: Duration = Duration::from_millis(250);

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    /// User plus system CPU time since the process started.
    pub(crate) cpu: Duration,
    /// Resident memory.
    pub(crate) rss_bytes: u64,
}

/// Reads process `pid` now.
pub(crate) fn sample(pid: u32) -> Result<Sample, String> {
    let read = |file: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/{file}"))
            .map_err(|e| format!("cannot read /proc/{pid}/{file}: {e} (Linux only)"))
    };
    let cpu = parse_cpu(&read("stat")?, ticks_per_second())
        .ok_or_else(|| format!("/proc/{pid}/stat has no CPU times"))?;
    let rss_bytes = parse_rss(&read("status")?)
        .ok_or_else(|| format!("/proc/{pid}/status has no VmRSS line"))?;
    Ok(Sample { cpu, rss_bytes })
}

/// The readings of one run.
#[derive(Debug)]
pub(crate) struct Readings {
    pub(crate) pid: u32,
    /// Before any connection opened.
    pub(crate) before: Sample,
    /// When the measured window opened (after the warm-up).
    pub(crate) window_start: Option<Sample>,
    /// Shortly before the end, with every connection still open: for the memory.
    pub(crate) held: Option<Sample>,
    /// When the measured window closed.
    pub(crate) window_end: Option<Sample>,
    /// Why a reading is missing (the server exited, say).
    pub(crate) error: Option<String>,
}

/// Reads process `pid` at the plan's edges: when the window opens, shortly before it closes (the
/// memory), and when it closes. Runs as its own task alongside the connections.
pub(crate) async fn watch(pid: u32, before: Sample, plan: Plan) -> Readings {
    let window = plan.end.saturating_duration_since(plan.warmup_end);
    let held_at = plan.end - MEMORY_MARGIN.min(window / 4);
    let window_start = sample_at(pid, plan.warmup_end).await;
    let held = sample_at(pid, held_at).await;
    let window_end = sample_at(pid, plan.end).await;
    let error = [&window_start, &held, &window_end]
        .into_iter()
        .find_map(|reading| reading.as_ref().err().cloned());
    Readings {
        pid,
        before,
        window_start: window_start.ok(),
        held: held.ok(),
        window_end: window_end.ok(),
        error,
    }
}

async fn sample_at(pid: u32, at: Instant) -> Result<Sample, String> {
    tokio::time::sleep_until(at.into()).await;
    sample(pid)
}

/// What the report says about a process (the server, or the load generator).
#[derive(Debug, Serialize)]
pub(crate) struct Usage {
    pub(crate) pid: u32,
    /// CPU time (user + system) the process used during the measured window.
    pub(crate) cpu_s: Option<f64>,
    /// That time as a share of one core over the window: 100 is one core busy throughout.
    pub(crate) cpu_percent: Option<f64>,
    /// CPU time per echoed message, in microseconds (echo mode).
    pub(crate) cpu_us_per_message: Option<f64>,
    /// Resident memory before any connection opened.
    pub(crate) rss_before_bytes: u64,
    /// Resident memory shortly before the end, every connection still open.
    pub(crate) rss_held_bytes: Option<u64>,
    /// (held - before) / connections open: the process's memory per connection.
    pub(crate) rss_per_connection_bytes: Option<f64>,
    pub(crate) error: Option<String>,
}

impl Usage {
    /// Summarises `readings` for a run that echoed `messages` (none in idle mode) over
    /// `window` with `connections` open.
    pub(crate) fn new(
        readings: Readings,
        messages: Option<u64>,
        connections: u64,
        window: Duration,
    ) -> Self {
        let cpu = match (readings.window_start, readings.window_end) {
            (Some(start), Some(end)) => Some(end.cpu.saturating_sub(start.cpu).as_secs_f64()),
            _ => None,
        };
        let seconds = window.as_secs_f64();
        let rss_held = readings.held.map(|held| held.rss_bytes);
        Self {
            pid: readings.pid,
            cpu_s: cpu,
            cpu_percent: cpu
                .filter(|_| seconds > 0.0)
                .map(|cpu| 100.0 * cpu / seconds),
            cpu_us_per_message: cpu
                .zip(messages.filter(|m| *m > 0))
                .map(|(cpu, messages)| cpu * 1e6 / messages as f64),
            rss_before_bytes: readings.before.rss_bytes,
            rss_held_bytes: rss_held,
            rss_per_connection_bytes: rss_held
                .filter(|_| connections > 0)
                .map(|held| (held as f64 - readings.before.rss_bytes as f64) / connections as f64),
            error: readings.error,
        }
    }
}

/// User plus system time from the text of /proc/PID/stat.
fn parse_cpu(stat: &str, ticks_per_second: u64) -> Option<Duration> {
    // The command name (field 2) is in parentheses and may hold spaces or parentheses itself,
    // so count fields from the last ')': field 3 (state) is the first after it, and utime and
    // stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    let per_second = ticks_per_second.max(1);
    Some(
        Duration::from_secs(ticks / per_second)
            + Duration::from_nanos((ticks % per_second) * 1_000_000_000 / per_second),
    )
}

/// Resident memory from the text of /proc/PID/status (`VmRSS:   12345 kB`).
fn parse_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let kib: u64 = words.next()?.parse().ok()?;
    Some(kib * 1024)
}

/// The unit of the CPU times in /proc (`USER_HZ`, 100 on common systems).
fn ticks_per_second() -> u64 {
    #[cfg(unix)]
    {
        use nix::unistd::{sysconf, SysconfVar};
        if let Ok(Some(ticks)) = sysconf(SysconfVar::CLK_TCK) {
            if let Ok(ticks) = u64::try_from(ticks) {
                return ticks;
            }
        }
    }
    100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_utime_plus_stime_even_with_odd_command_names() {
        let stat = "4242 (my (odd) server) S 1 4242 4242 0 -1 4194560 1500 0 0 0 \
                    250 130 0 0 20 0 3 0 12345 1000000 700 18446744073709551615";
        assert_eq!(parse_cpu(stat, 100), Some(Duration::from_millis(3_800)));
        assert_eq!(parse_cpu(stat, 1000), Some(Duration::from_millis(380)));
        assert_eq!(parse_cpu("4242 (truncated) S 1 2", 100), None);
    }

    #[test]
    fn rss_comes_from_the_vmrss_line_in_kib() {
        let status = "Name:\tswitchboard\nVmPeak:\t  99999 kB\nVmRSS:\t    5840 kB\nThreads:\t2\n";
        assert_eq!(parse_rss(status), Some(5840 * 1024));
        assert_eq!(parse_rss("Name:\tkthreadd\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_can_be_read() {
        let sample = sample(std::process::id()).unwrap();
        assert!(sample.rss_bytes > 0);
        let error = super::sample(u32::MAX).unwrap_err();
        assert!(error.contains("cannot read"), "{error}");
    }

    #[test]
    fn usage_divides_cpu_by_messages_and_memory_by_connections() {
        let at = |cpu_ms, rss_bytes| Sample {
            cpu: Duration::from_millis(cpu_ms),
            rss_bytes,
        };
        let readings = Readings {
            pid: 7,
            before: at(100, 1_000_000),
            window_start: Some(at(300, 3_000_000)),
            held: Some(at(1_200, 3_000_000)),
            window_end: Some(at(1_300, 3_000_000)),
            error: None,
        };
        let usage = Usage::new(readings, Some(500_000), 1_000, Duration::from_secs(2));
        assert_eq!(usage.cpu_s, Some(1.0));
        assert_eq!(usage.cpu_percent, Some(50.0));
        assert_eq!(usage.cpu_us_per_message, Some(2.0));
        assert_eq!(usage.rss_per_connection_bytes, Some(2_000.0));
    }
}
