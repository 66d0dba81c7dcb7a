//! A program a test runs beside its servers (`redis-server`, `chromedriver`), on a loopback port
//! of its own, and kills with everything it started when dropped.
//!
//! The port is found free, let go of, and only then bound by the program: any socket on the
//! machine (a client's outgoing connection, say) may take it in between, and the program then
//! exits. So a program that exits before it listens is started again on another port, and one
//! that never listens fails the test with what it printed.

use std::{
    collections::BTreeSet,
    fs::File,
    net::{TcpListener, TcpStream},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Mutex, PoisonError},
    thread,
    time::{Duration, Instant},
};

/// How long a program may take to accept connections: milliseconds, usually; a machine busy
/// with a whole test run can be far slower.
const PATIENCE: Duration = Duration::from_secs(10);

/// Ports tried before giving up: each is a fresh one.
const TRIES: usize = 3;

/// A running program that accepts connections on `127.0.0.1:port`.
#[derive(Debug)]
pub struct HelperProcess {
    pub port: u16,
    child: Child,
    /// Its standard output and error, in a file: a pipe nobody reads could fill up and stall it.
    log: PathBuf,
}

impl HelperProcess {
    /// Runs `command(port)` on a free port, and waits until it accepts connections.
    pub fn start(mut command: impl FnMut(u16) -> Command) -> Self {
        let mut failures = Vec::with_capacity(TRIES);
        for _ in 0..TRIES {
            let port = free_port();
            match Self::try_start(port, command(port)) {
                Ok(helper) => return helper,
                Err(why) => failures.push(why),
            }
        }
        panic!("{}", failures.join("\n"));
    }

    /// Runs `command(port)` on `port` (a restart on the port clients already know), and waits
    /// until it accepts connections.
    pub fn start_on(port: u16, command: impl FnOnce(u16) -> Command) -> Self {
        Self::try_start(port, command(port)).unwrap_or_else(|why| panic!("{why}"))
    }

    /// Runs `command`, which should listen on `port`. On failure, why, with what it printed.
    pub fn try_start(port: u16, mut command: Command) -> Result<Self, String> {
        let path = Path::new(command.get_program());
        let program = path.file_name().unwrap_or(path.as_os_str()).to_string_lossy().into_owned();
        let log = std::env::temp_dir().join(format!("{program}-{port}-{}.log", std::process::id()));
        let output = File::create(&log).map_err(|error| format!("create {log:?}: {error}"))?;
        let errors = output.try_clone().map_err(|error| format!("{log:?}: {error}"))?;
        // A process group of its own, so that `stop` reaches what it starts (browsers, say).
        let child = command
            .stdout(output)
            .stderr(errors)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|error| panic!("run {program} (is it installed?): {error}"));
        let mut helper = Self { port, child, log };
        let deadline = Instant::now() + PATIENCE;
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(helper);
            }
            if let Ok(Some(status)) = helper.child.try_wait() {
                return Err(format!(
                    "{program} on port {port} exited ({status}):\n{}",
                    helper.output()
                ));
            }
            if Instant::now() >= deadline {
                helper.stop();
                let output = helper.output();
                return Err(format!(
                    "{program} did not listen on port {port} in {PATIENCE:?}:\n{output}"
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// What the program printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the program and everything it started.
    pub fn stop(&mut self) {
        // Only while it runs: once it has been waited for, its id, which is also its process
        // group's (`process_group(0)`), may be another process's.
        if let Ok(None) = self.child.try_wait() {
            let group = format!("-{}", self.child.id());
            let _ =
                Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for HelperProcess {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A loopback port no socket holds right now, and never handed out before in this process:
/// tests run in parallel, and the kernel may give a port just let go of to the next caller.
fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr());
        let port = port.expect("bind a loopback port").port();
        if GIVEN.lock().unwrap_or_else(PoisonError::into_inner).insert(port) {
            return port;
        }
    }
}
