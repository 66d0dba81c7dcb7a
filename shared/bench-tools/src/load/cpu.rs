//! CPU time over the measured window, from /proc (Linux): the server's (`/proc/PID/stat`), to
//! put a price in microseconds on each answer; wsload's own, to tell a run that the load
//! generator limited (its one core busy all the time) from one the server limited; and the
//! whole machine's (`/proc/stat`), so that what neither of them used shows: another program
//! busy on the machine makes a measurement worth repeating.
//!
//! The server's price is also split: its user time is its own code, the rest is the kernel's
//! work on its system calls, which a server on loopback shares with the ceiling row.

use std::{
    io,
    sync::{Arc, Mutex, PoisonError},
};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// The unit of `utime` and `stime` in /proc: USER_HZ, which the kernel ABI fixes at 100 on x86
/// and ARM whatever the kernel's own tick rate (`getconf CLK_TCK` prints it).
const TICKS_PER_SEC: f64 = 100.0;

/// CPU time of every thread of one process, in ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticks {
    /// In the process's own code (and its libraries): `utime`.
    pub(crate) user: u64,
    /// In the kernel on its behalf, its system calls: `stime`.
    pub(crate) system: u64,
}

/// User and system CPU time of every thread of `pid` (of this process for `None`).
pub(crate) fn cpu_ticks(pid: Option<u32>) -> io::Result<Ticks> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path)?;
    parse_ticks(&stat).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad stat line"))
}

/// `utime` and `stime` of a stat line. The command name (field 2) is in parentheses and may
/// hold spaces, so fields are counted from the last `)`: state is field 3, utime 14, stime 15.
fn parse_ticks(stat: &str) -> Option<Ticks> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let user = fields.next()?.parse().ok()?;
    let system = fields.next()?.parse().ok()?;
    Some(Ticks { user, system })
}

/// What one process spent during the measured window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CpuUse {
    /// `None`: wsload itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// User + system CPU seconds, every thread, inside the window (10 ms resolution).
    pub cpu_secs: f64,
    /// `cpu_secs` over the window's length: 1.0 is one core busy all the time.
    pub cores: f64,
    /// CPU microseconds per measured answer (echo reply, delivery, churn cycle); none when the
    /// scenario answers nothing (`idle`).
    pub per_answer_us: Option<f64>,
    /// Of `cpu_secs`, the time in user space: the process's own code, not the kernel's.
    pub user_secs: f64,
    /// Of `per_answer_us`, the part in user space.
    pub per_answer_user_us: Option<f64>,
}

/// A reading at the start of the window, taken by whoever sees the window open, and one at
/// its end.
#[derive(Debug, Clone)]
pub(crate) struct CpuProbe {
    pid: Option<u32>,
    start: Arc<Mutex<Option<(Instant, Ticks)>>>,
    end: Option<(Instant, Ticks)>,
}

impl CpuProbe {
    pub(crate) fn new(pid: Option<u32>) -> Self {
        Self { pid, start: Arc::default(), end: None }
    }

    fn read(&self) -> Option<(Instant, Ticks)> {
        cpu_ticks(self.pid).ok().map(|ticks| (Instant::now(), ticks))
    }

    /// The window opened (called from another task: the probe is shared through `start`).
    pub(crate) fn window_start(&self) {
        let reading = self.read();
        *self.start.lock().unwrap_or_else(PoisonError::into_inner) = reading;
    }

    /// The window closed. Without a start reading (the window never opened) nothing is kept.
    pub(crate) fn window_end(&mut self) {
        if self.start.lock().unwrap_or_else(PoisonError::into_inner).is_some() {
            self.end = self.read();
        }
    }

    /// The use over the window, priced per answer when there were `answers`.
    pub(crate) fn usage(&self, answers: u64) -> Option<CpuUse> {
        let (started, first) = (*self.start.lock().unwrap_or_else(PoisonError::into_inner))?;
        let (ended, last) = self.end?;
        let secs = ended.saturating_duration_since(started).as_secs_f64();
        let user = last.user.saturating_sub(first.user);
        let system = last.system.saturating_sub(first.system);
        let cpu_secs = (user + system) as f64 / TICKS_PER_SEC;
        let user_secs = user as f64 / TICKS_PER_SEC;
        let per_answer =
            |secs: f64| (answers > 0).then(|| round(secs * 1e6 / answers as f64, 100.0));
        Some(CpuUse {
            pid: self.pid,
            cpu_secs: round(cpu_secs, 100.0),
            cores: if secs > 0.0 { round(cpu_secs / secs, 1000.0) } else { 0.0 },
            per_answer_us: per_answer(cpu_secs),
            user_secs: round(user_secs, 100.0),
            per_answer_user_us: per_answer(user_secs),
        })
    }
}

/// Busy and total time of all CPUs together, in ticks, from the first line of /proc/stat
/// (busy is all but idle and iowait; of it, the time in interrupts and softirqs, where the
/// kernel moves network packets and bills no process for it), and how many CPUs there are:
/// one `cpuN` line each. Not `available_parallelism`, which counts only the CPUs this process
/// may run on.
fn machine_ticks() -> Option<MachineTicks> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    let ticks: Vec<u64> =
        line.split_whitespace().take(8).map(|field| field.parse().ok()).collect::<Option<_>>()?;
    let total: u64 = ticks.iter().sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    let interrupts = ticks.get(5)? + ticks.get(6)?;
    let cores = stat.lines().filter(|line| is_cpu_line(line)).count().max(1);
    Some(MachineTicks { busy: total - idle, interrupts, total, cores })
}

#[derive(Debug, Clone, Copy)]
struct MachineTicks {
    busy: u64,
    interrupts: u64,
    total: u64,
    cores: usize,
}

/// The whole machine during the window: how many of its cores were busy, whoever used them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct MachineCpu {
    pub cores: usize,
    /// Busy cores on average over the window (all processes, and the kernel's own work).
    pub busy_cores: f64,
    /// Of those, in interrupts and softirqs: mostly the loopback traffic of the run itself,
    /// which is billed to no process (so it is in neither the server's CPU nor wsload's).
    pub softirq_cores: f64,
}

/// The machine's counterpart of [`CpuProbe`].
#[derive(Debug, Clone, Default)]
pub(crate) struct MachineProbe {
    start: Arc<Mutex<Option<MachineTicks>>>,
    end: Option<MachineTicks>,
}

impl MachineProbe {
    pub(crate) fn window_start(&self) {
        *self.start.lock().unwrap_or_else(PoisonError::into_inner) = machine_ticks();
    }

    pub(crate) fn window_end(&mut self) {
        if self.start.lock().unwrap_or_else(PoisonError::into_inner).is_some() {
            self.end = machine_ticks();
        }
    }

    pub(crate) fn usage(&self) -> Option<MachineCpu> {
        let start = (*self.start.lock().unwrap_or_else(PoisonError::into_inner))?;
        let end = self.end?;
        let total = end.total.saturating_sub(start.total);
        let cores = |ticks: u64| round(ticks as f64 / total as f64 * end.cores as f64, 1000.0);
        (total > 0).then(|| MachineCpu {
            cores: end.cores,
            busy_cores: cores(end.busy.saturating_sub(start.busy)),
            softirq_cores: cores(end.interrupts.saturating_sub(start.interrupts)),
        })
    }
}

/// `cpu0`, `cpu1`, ...: one line per online CPU (the first line, `cpu `, is their sum).
fn is_cpu_line(line: &str) -> bool {
    line.strip_prefix("cpu").is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

fn round(value: f64, scale: f64) -> f64 {
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utime_and_stime_are_found_after_the_command_name() {
        let stat = "4242 (tokio (x) 1) S 1 4242 4242 0 -1 4194560 960 0 0 0 37 5 0 0 20 0 \
                    3 0 123 456 789";
        assert_eq!(parse_ticks(stat), Some(Ticks { user: 37, system: 5 }));
        assert_eq!(parse_ticks("garbage"), None);
        assert!(cpu_ticks(None).is_ok());
        let machine = machine_ticks().unwrap();
        assert!(machine.busy <= machine.total && machine.cores >= 1);
        assert!(is_cpu_line("cpu1 1 2 3") && !is_cpu_line("cpu  1 2 3"));
    }
}
