//! The processes a comparison starts, and what it reads about the machine.
//!
//! Every server runs pinned to CPU 0 and every wsload to CPU 1 (`taskset`), so the two never
//! compete for a core and a row's numbers do not depend on where the scheduler put things.
//! None outlives bench-compare, by three nets: a measurement stops its server itself; a child
//! dropped early (an error, a panic, Ctrl-C dropping the whole run) is killed by
//! `kill_on_drop`; and where util-linux's `setpriv` exists, each child also gets a
//! parent-death signal, so even a bench-compare killed with SIGKILL takes its children along.

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{ExitCode, Stdio},
    time::Duration,
};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use tokio::{
    net::TcpStream,
    process::{Child, Command},
    time::{Instant, sleep, timeout},
};

use crate::plan::ServerSpec;

/// The CPU servers run on, and the one wsload runs on.
const SERVER_CPU: &str = "0";
const WSLOAD_CPU: &str = "1";
/// Set in the copy of bench-compare that runs pinned to `WSLOAD_CPU`.
const ON_LOAD_CPU: &str = "BENCH_COMPARE_ON_LOAD_CPU";

/// This process is the copy that runs on the load generator's CPU.
pub(crate) fn pinned_to_load_cpu() -> bool {
    std::env::var_os(ON_LOAD_CPU).is_some()
}

/// Runs this program again, with the same arguments, pinned to the load generator's CPU, and
/// exits as it does.
pub(crate) fn rerun_on_load_cpu() -> ExitCode {
    let status = std::env::current_exe().and_then(|program| {
        std::process::Command::new("taskset")
            .args(["-c", WSLOAD_CPU])
            .arg(program)
            .args(std::env::args_os().skip(1))
            .env(ON_LOAD_CPU, "1")
            .status()
    });
    match status {
        Ok(status) => {
            ExitCode::from(status.code().and_then(|code| u8::try_from(code).ok()).unwrap_or(1))
        }
        Err(error) => {
            eprintln!("bench-compare: cannot run pinned with `taskset` (util-linux): {error}");
            ExitCode::FAILURE
        }
    }
}

/// How long a server may take to accept its first connection.
const STARTUP: Duration = Duration::from_secs(15);
/// How many sets of free ports a server that exits at start is tried on before the run fails.
const PORT_TRIES: usize = 3;

/// Builds every server and wsload, once, with the profile bench-compare itself was built with.
/// Returns the folder of the binaries.
pub(crate) async fn build(root: &Path, release: bool) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(root).arg("build").arg("--bins");
    if release {
        command.arg("--release");
    }
    for package in crate::plan::PACKAGES {
        command.args(["-p", package]);
    }
    let status = command.kill_on_drop(true).status().await.context("run cargo build")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    let exe = std::env::current_exe().context("where is bench-compare")?;
    let dir = exe.parent().context("bench-compare has no folder")?;
    Ok(dir.to_path_buf())
}

/// Starts pinned children.
#[derive(Debug)]
pub(crate) struct Launcher {
    bin_dir: PathBuf,
    log_dir: PathBuf,
    /// util-linux's `setpriv` is there to give children a parent-death signal.
    setpriv: bool,
}

impl Launcher {
    pub(crate) fn new(bin_dir: PathBuf, work: PathBuf) -> anyhow::Result<Self> {
        if !found("taskset") {
            bail!("`taskset` (util-linux) is needed to pin the servers and wsload to their CPUs");
        }
        let log_dir = work.join("logs");
        std::fs::create_dir_all(&log_dir)
            .with_context(|| format!("create {}", log_dir.display()))?;
        let setpriv = found("setpriv");
        if !setpriv {
            eprintln!(
                "bench-compare: no `setpriv`: children are still stopped on errors and Ctrl-C, \
                 but not if bench-compare itself is killed with SIGKILL"
            );
        }
        Ok(Self { bin_dir, log_dir, setpriv })
    }

    /// `program` pinned to `cpu`, killed when dropped or when bench-compare dies.
    fn pinned(&self, cpu: &str, program: &str) -> Command {
        let mut command = if self.setpriv {
            let mut command = Command::new("setpriv");
            command.args(["--pdeathsig", "KILL", "taskset", "-c", cpu]);
            command
        } else {
            let mut command = Command::new("taskset");
            command.args(["-c", cpu]);
            command
        };
        // setpriv and taskset exec the program, so the child's pid is the program's.
        command.arg(self.bin_dir.join(program)).stdin(Stdio::null()).kill_on_drop(true);
        command
    }

    /// Starts `server` with `extra` options on free loopback ports and waits until it accepts
    /// connections. Its output goes to `<work>/logs/<name>.log`.
    ///
    /// A port found free may be taken by another socket before the server binds it (see
    /// `free_ports`); the server then exits, and is started again on new ports.
    pub(crate) async fn start(
        &self,
        server: &ServerSpec,
        extra: &[String],
        name: &str,
    ) -> anyhow::Result<Running> {
        let mut exits = Vec::with_capacity(PORT_TRIES);
        for _ in 0..PORT_TRIES {
            let ports = free_ports(if server.admin { 2 } else { 1 })?;
            let (addr, admin) = (ports[0], ports.get(1).copied());
            let args = server.args(addr, admin, extra);
            let log = self.log_dir.join(format!("{name}.log"));
            let file =
                std::fs::File::create(&log).with_context(|| format!("create {}", log.display()))?;
            let mut command = self.pinned(SERVER_CPU, server.bin);
            command.args(&args).stdout(file.try_clone()?).stderr(file);
            let child = command.spawn().with_context(|| format!("start {}", server.bin))?;
            let pid = child.id().context("the server exited at once")?;
            let mut running = Running { child, pid, addr, admin, log, name: name.to_owned() };
            match running.wait_ready().await? {
                None => return Ok(running),
                Some(exit) => {
                    eprintln!("bench-compare: {name} exited at start; trying new ports");
                    exits.push(exit);
                }
            }
        }
        bail!("{name} exited at start on {PORT_TRIES} sets of free ports:\n{}", exits.join("\n"))
    }

    /// Runs wsload pinned to its CPU with `args`, within `limit`. While it runs, the kernel's
    /// memory for sockets is sampled: it belongs to no process, so no RSS shows it.
    pub(crate) async fn wsload(&self, args: &[String], limit: Duration) -> anyhow::Result<Wsload> {
        let kernel_before = KernelMemory::read();
        let mut command = self.pinned(WSLOAD_CPU, "wsload");
        command.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = command.spawn().context("start wsload")?;
        let output = child.wait_with_output();
        tokio::pin!(output);
        let mut kernel_peak = kernel_before;
        let mut ticker = tokio::time::interval(Duration::from_millis(500));
        let deadline = Instant::now() + limit;
        let output = loop {
            tokio::select! {
                output = &mut output => break output.context("wait for wsload")?,
                _ = ticker.tick() => kernel_peak = kernel_peak.max(KernelMemory::read()),
                // Dropping `output` kills wsload.
                () = tokio::time::sleep_until(deadline) => bail!("wsload ran past {limit:?}: stopped"),
            }
        };
        Ok(Wsload {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            kernel_growth: kernel_peak.growth_over(kernel_before),
        })
    }
}

/// What a wsload run left.
#[derive(Debug)]
pub(crate) struct Wsload {
    /// 0: passed; 1: more errors than tolerated (the summary says which); 2: bad usage.
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    /// The most the kernel's socket memory grew while it ran.
    pub(crate) kernel_growth: KernelGrowth,
}

/// A server under test.
#[derive(Debug)]
pub(crate) struct Running {
    child: Child,
    pub(crate) pid: u32,
    pub(crate) addr: SocketAddr,
    /// The admin listener, for servers that have one.
    pub(crate) admin: Option<SocketAddr>,
    log: PathBuf,
    name: String,
}

impl Running {
    /// Waits until the server accepts connections: `None`. If it exits first, why (`Some`).
    async fn wait_ready(&mut self) -> anyhow::Result<Option<String>> {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(format!(
                    "{} exited at start ({status}):\n{}",
                    self.name,
                    self.log_tail()
                )));
            }
            // The probe connection sends nothing; the server logs a failed handshake and moves on.
            if let Ok(Ok(_probe)) =
                timeout(Duration::from_secs(1), TcpStream::connect(self.addr)).await
            {
                return Ok(None);
            }
            if Instant::now() > deadline {
                bail!("{} did not accept connections within {STARTUP:?}", self.name);
            }
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// The WebSocket URL wsload is pointed at.
    pub(crate) fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Stops the server. A server that died during the measurement is an error: its numbers
    /// are not the server's.
    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} died during the measurement ({status}):\n{}", self.name, self.log_tail());
        }
        self.child.kill().await.with_context(|| format!("stop {}", self.name))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }
}

/// `count` distinct loopback ports nobody uses right now. They are all held until all are
/// picked (a port let go at once could be handed out again for the next), then let go for the
/// server to bind a moment later; another socket taking one in between makes the server exit
/// (and `Launcher::start` try new ports), it cannot make it measure the wrong thing.
fn free_ports(count: usize) -> anyhow::Result<Vec<SocketAddr>> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("find a free port"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    listeners.iter().map(|listener| Ok(listener.local_addr()?)).collect()
}

fn found(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Kernel memory that grows with connections but is in no process's RSS: the slab (socket
/// structures, their files and inodes) and the TCP buffers, machine-wide, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KernelMemory {
    slab_kib: u64,
    tcp_buffers_kib: u64,
}

/// The most kernel memory grew during a run, in KiB.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct KernelGrowth {
    pub(crate) slab_kib: u64,
    pub(crate) tcp_buffers_kib: u64,
}

impl KernelMemory {
    fn read() -> Self {
        let slab_kib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|info| field_after(&info, "Slab:"))
            .unwrap_or(0);
        // `TCP: inuse N orphan N tw N alloc N mem PAGES`
        let tcp_pages = std::fs::read_to_string("/proc/net/sockstat")
            .ok()
            .and_then(|stat| {
                let line = stat.lines().find(|line| line.starts_with("TCP:"))?;
                field_after(line, "mem")
            })
            .unwrap_or(0);
        Self { slab_kib, tcp_buffers_kib: tcp_pages * 4 }
    }

    fn max(self, other: Self) -> Self {
        Self {
            slab_kib: self.slab_kib.max(other.slab_kib),
            tcp_buffers_kib: self.tcp_buffers_kib.max(other.tcp_buffers_kib),
        }
    }

    fn growth_over(self, before: Self) -> KernelGrowth {
        KernelGrowth {
            slab_kib: self.slab_kib.saturating_sub(before.slab_kib),
            tcp_buffers_kib: self.tcp_buffers_kib.saturating_sub(before.tcp_buffers_kib),
        }
    }
}

/// The number after `key` in whitespace-separated text.
fn field_after(text: &str, key: &str) -> Option<u64> {
    let mut words = text.split_whitespace();
    words.find(|word| *word == key)?;
    words.next()?.parse().ok()
}

/// The 1-minute load average, as `uptime` shows it.
pub(crate) fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Busy and total CPU ticks of the whole machine (/proc/stat's first line).
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = line.split_whitespace().take(8).filter_map(|f| f.parse().ok()).collect();
    let total: u64 = ticks.iter().sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some((total - idle, total))
}

/// Busy cores of the whole machine over `span`, while bench-compare runs nothing: what others
/// are using.
pub(crate) async fn busy_cores(span: Duration, cores: usize) -> Option<f64> {
    let (busy0, total0) = machine_ticks()?;
    sleep(span).await;
    let (busy1, total1) = machine_ticks()?;
    let total = total1.checked_sub(total0).filter(|total| *total > 0)?;
    Some(busy1.saturating_sub(busy0) as f64 / total as f64 * cores as f64)
}

/// What the page says about where the numbers come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Machine {
    pub(crate) cpu_model: String,
    pub(crate) cores: usize,
    pub(crate) memory_gib: f64,
    pub(crate) kernel: String,
    pub(crate) rustc: String,
    pub(crate) date: String,
    pub(crate) profile: String,
    pub(crate) open_files: String,
}

impl Machine {
    pub(crate) async fn describe(release: bool) -> Self {
        let lscpu = output("lscpu", &[]).await;
        let cpu_model = lscpu
            .lines()
            .find_map(|line| line.strip_prefix("Model name:"))
            .map_or_else(|| "unknown".to_owned(), |model| model.trim().to_owned());
        let cores = std::fs::read_to_string("/proc/stat")
            .map(|stat| {
                stat.lines()
                    .filter(|line| {
                        line.strip_prefix("cpu")
                            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
                    })
                    .count()
            })
            .unwrap_or(0);
        let memory_gib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|info| field_after(&info, "MemTotal:"))
            .map_or(0.0, |kib| kib as f64 / 1024.0 / 1024.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".to_owned(), |release| release.trim().to_owned());
        let rustc = output("rustc", &["--version"]).await.trim().to_owned();
        let date = output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).await.trim().to_owned();
        let open_files = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|limits| {
                let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
                let mut words = line.split_whitespace().skip(3);
                Some(format!("{} soft, {} hard", words.next()?, words.next()?))
            })
            .unwrap_or_else(|| "unknown".to_owned());
        Self {
            cpu_model,
            cores,
            memory_gib,
            kernel,
            rustc,
            date,
            profile: if release { "release" } else { "debug" }.to_owned(),
            open_files,
        }
    }
}

/// What `program args` prints, or nothing when it cannot run.
async fn output(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).kill_on_drop(true).output().await {
        Ok(output) => String::from_utf8_lossy(&output.stdout).into_owned(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_after_their_key() {
        assert_eq!(field_after("TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 12", "mem"), Some(12));
        assert_eq!(field_after("MemTotal:       24683652 kB", "MemTotal:"), Some(24_683_652));
        assert_eq!(field_after("x 1", "y"), None);
    }
}
