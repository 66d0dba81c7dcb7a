//! Smoke test of the `wsload` binary: each scenario that a plain echo server can answer
//! (`idle`, `echo` closed and open loop, `churn`) runs for about a second against an in-process
//! echo server, must exit 0, and must report real work in its JSON summary. The same again with
//! `--protocol tcp` against an in-process plain TCP echo server, like `tcp-echo`.
//!
//! `broadcast` needs the rooms protocol, so its smoke test belongs with a chapter server.

use std::{net::SocketAddr, path::Path, process::Command};

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};
use tokio_tungstenite::{accept_async, tungstenite::Message};

/// A raw echo server like chapter 01's, on an ephemeral port, on its own runtime thread so the
/// blocking `Command` calls below cannot starve it.
fn spawn_echo_server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = TcpListener::from_std(listener).expect("listener");
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(mut ws) = accept_async(stream).await else {
                        return;
                    };
                    while let Some(Ok(message)) = ws.next().await {
                        if matches!(message, Message::Text(_) | Message::Binary(_))
                            && ws.send(message).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
    });
    addr
}

/// A plain TCP echo server like `tcp-echo` (no WebSocket), on its own runtime thread.
fn spawn_tcp_echo_server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = TcpListener::from_std(listener).expect("listener");
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    while let Ok(n @ 1..) = stream.read(&mut buffer).await {
                        if stream.write_all(&buffer[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    });
    addr
}

/// Runs wsload with `args` plus the target and a JSON summary; returns the parsed summary.
fn wsload(addr: SocketAddr, args: &[&str]) -> Value {
    wsload_with(addr, "raw", args)
}

fn wsload_with(addr: SocketAddr, protocol: &str, args: &[&str]) -> Value {
    let dir = std::env::temp_dir();
    let json = dir.join(format!("wsload-smoke-{}-{protocol}-{}.json", std::process::id(), args[0]));
    let url = format!("ws://{addr}/");
    let output = Command::new(env!("CARGO_BIN_EXE_wsload"))
        .args(args)
        .args(["--protocol", protocol, "--url", &url, "--quiet", "--json"])
        .arg(&json)
        .output()
        .expect("run wsload");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "wsload {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("result"), "no text summary:\n{stdout}");
    let summary = read_json(&json);
    let _ = std::fs::remove_file(&json);
    assert_eq!(summary["passed"], true, "{summary:#}");
    assert_eq!(summary["errors"]["total"], 0, "{summary:#}");
    summary
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("JSON summary written");
    serde_json::from_str(&text).expect("JSON summary parses")
}

fn count(summary: &Value, pointer: &str) -> u64 {
    summary
        .pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{pointer} missing in {summary:#}"))
}

#[test]
fn every_echo_server_scenario_runs_and_reports() {
    let addr = spawn_echo_server();

    let idle = wsload(addr, &["idle", "-n", "20", "--duration", "1s"]);
    assert_eq!(count(&idle, "/connections/opened"), 20);
    assert_eq!(count(&idle, "/connections/closed_clean"), 20);
    assert_eq!(count(&idle, "/connections/dropped"), 0);

    let echo = wsload(addr, &["echo", "-n", "20", "--duration", "1s"]);
    assert!(count(&echo, "/messages/measured") > 0, "{echo:#}");
    assert!(count(&echo, "/latency_us/count") > 0, "{echo:#}");

    let open_loop =
        wsload(addr, &["echo", "-n", "20", "--rate", "50", "--duration", "1s", "--frame", "text"]);
    let measured = count(&open_loop, "/messages/measured");
    // 20 connections x 50/s x 1 s, give or take the edges of the window.
    assert!((800..=1100).contains(&measured), "{open_loop:#}");

    let churn = wsload(addr, &["churn", "-c", "4", "--duration", "1s"]);
    assert!(count(&churn, "/churn/cycles") > 0, "{churn:#}");
    assert!(count(&churn, "/connections/closed_clean") > 0, "{churn:#}");
}

#[test]
fn the_tcp_ceiling_runs_echo_idle_and_churn_and_prices_the_server_cpu() {
    let addr = spawn_tcp_echo_server();
    // The server runs in this test process, so this process is the one to probe.
    let pid = std::process::id().to_string();

    let echo = wsload_with(
        addr,
        "tcp",
        &["echo", "-n", "10", "--size", "20", "--duration", "1s", "--server-pid", &pid],
    );
    assert!(count(&echo, "/messages/measured") > 0, "{echo:#}");
    // The bytes of a 20-byte binary frame from a client: 2 header bytes, a 4-byte mask key.
    assert_eq!(count(&echo, "/messages/frame_bytes"), 26, "{echo:#}");
    let per_answer = echo.pointer("/server_cpu/per_answer_us").and_then(Value::as_f64);
    let in_user_space = echo.pointer("/server_cpu/per_answer_user_us").and_then(Value::as_f64);
    assert!(per_answer.is_some(), "{echo:#}");
    assert!(in_user_space <= per_answer && in_user_space.is_some(), "{echo:#}");
    assert!(echo.pointer("/wsload_cpu/cores").is_some_and(Value::is_f64), "{echo:#}");

    let idle = wsload_with(addr, "tcp", &["idle", "-n", "20", "--duration", "1s"]);
    assert_eq!(count(&idle, "/connections/opened"), 20);
    assert_eq!(count(&idle, "/connections/closed_clean"), 20);
    assert_eq!(count(&idle, "/connections/dropped"), 0);

    let churn = wsload_with(addr, "tcp", &["churn", "-c", "4", "--duration", "1s"]);
    assert!(count(&churn, "/churn/cycles") > 0, "{churn:#}");
    assert!(count(&churn, "/connections/closed_clean") > 0, "{churn:#}");
}

#[test]
fn tcp_is_refused_where_it_cannot_stand_in() {
    for args in [
        ["broadcast", "--protocol", "tcp"].as_slice(),
        &["echo", "--protocol", "tcp", "--rate", "10"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_wsload"))
            .args(args)
            .args(["--duration", "1s"])
            .output()
            .expect("run wsload");
        assert_eq!(output.status.code(), Some(2), "{args:?} was not refused");
    }
}

#[test]
fn targets_off_this_machine_are_refused() {
    for url in ["ws://10.0.0.1:9000/", "ws://localhost:9000/", "ws://192.168.0.1/"] {
        let output = Command::new(env!("CARGO_BIN_EXE_wsload"))
            .args(["echo", "--url", url, "--duration", "1s"])
            .output()
            .expect("run wsload");
        assert_eq!(output.status.code(), Some(2), "{url} was not refused");
        assert!(String::from_utf8_lossy(&output.stderr).contains("refused"));
    }
}
