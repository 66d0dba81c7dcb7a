//! Resident memory of a process, from `/proc/PID/status` (Linux): the server's, to see what one
//! connection costs it, and wsload's own, to check the load generator stays small.

use std::io;

use serde::{Deserialize, Serialize};

/// `VmRSS` in KiB of `pid`, or of this process for `None`.
pub(crate) fn vm_rss_kib(pid: Option<u32>) -> io::Result<u64> {
    status_kib(pid, "VmRSS:")
}

/// One `Vm...:` line of `/proc/PID/status`, in KiB.
fn status_kib(pid: Option<u32>, field: &str) -> io::Result<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path)?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("no {field} line")))
}

/// Samples of one process's RSS at the points of a run that tell a story.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RssSamples {
    /// `None`: wsload itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Before the first connection.
    pub baseline_kib: Option<u64>,
    /// Once every connection is open (set up, joined).
    pub open_kib: Option<u64>,
    /// At the end of the measured window (or hold), connections still open.
    pub end_kib: Option<u64>,
    /// After every connection closed.
    pub closed_kib: Option<u64>,
    /// The most the process has held at once (`VmHWM`), read with the last sample. Memory that
    /// comes and goes with the load, between the samples above, shows here; for a server
    /// started for this run, it is this run's peak.
    pub peak_kib: Option<u64>,
    /// (end - baseline) / connections open at the end.
    pub per_connection_kib: Option<f64>,
}

impl RssSamples {
    pub(crate) fn start(pid: Option<u32>) -> Self {
        Self {
            pid,
            baseline_kib: vm_rss_kib(pid).ok(),
            open_kib: None,
            end_kib: None,
            closed_kib: None,
            peak_kib: None,
            per_connection_kib: None,
        }
    }

    pub(crate) fn sample(&self) -> Option<u64> {
        // A server that died mid-run has no RSS; the summary shows the gap and the errors
        // say why.
        vm_rss_kib(self.pid).ok()
    }

    /// The last samples, once every connection closed.
    pub(crate) fn closed(&mut self) {
        self.closed_kib = self.sample();
        self.peak_kib = status_kib(self.pid, "VmHWM:").ok();
    }

    /// Records the end-of-window sample and the cost per connection.
    pub(crate) fn end(&mut self, connections: u64) {
        self.end_kib = self.sample();
        self.per_connection_kib = match (self.baseline_kib, self.end_kib) {
            (Some(base), Some(end)) if connections > 0 => {
                Some((end as f64 - base as f64) / connections as f64)
            }
            _ => None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_keeps_memory_that_was_let_go() {
        let mut rss = RssSamples::start(None);
        // 32 MiB touched, measured, and given back to the system (an allocation that large is
        // a mapping of its own): the peak keeps it, the last sample does not.
        let touched = vec![1u8; 32 << 20];
        let during = vm_rss_kib(None).unwrap();
        assert_eq!(touched.iter().map(|&b| usize::from(b)).sum::<usize>(), 32 << 20);
        drop(touched);
        rss.closed();
        let (peak, closed) = (rss.peak_kib.unwrap(), rss.closed_kib.unwrap());
        // The kernel counts RSS in per-CPU batches, so the two readings may differ by a few
        // pages either way; a MiB of slack is far below the 32 touched.
        assert!(peak + 1024 >= during, "peak {peak} KiB, while touched {during} KiB");
        assert!(closed + 16 * 1024 < during, "closed {closed} KiB, while touched {during} KiB");
    }
}
