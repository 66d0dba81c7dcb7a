//! Changing the log level while the server runs. Its own test binary: it installs the global
//! subscriber, which a process can do once.

use shared::config::{LogFormat, ServerOptions};
use test_support::http;
use tokio::net::TcpListener;
use tracing::Level;

// The chapter under test: the only name that changes when the next chapter copies this file.
use ch06_instrumentation as chapter;
use chapter::{
    Config,
    admin::{self, Admin},
    app::App,
    metrics::prometheus_recorder,
};

/// Its crate name, as log filters and log lines spell it: strings, which the alias cannot reach.
const CRATE: &str = "ch06_instrumentation";

fn debug_enabled() -> bool {
    tracing::enabled!(target: CRATE, Level::DEBUG)
}

#[tokio::test]
async fn put_log_level_takes_effect_without_a_restart() {
    let options = ServerOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        debug: false,
        log_format: LogFormat::Text,
    };
    let log = shared::logging::init(CRATE, &options);
    log.set("info").unwrap(); // whatever RUST_LOG said, start from info
    assert!(!debug_enabled());

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let admin =
        Admin { app: App::new(Config::default()), metrics: prometheus_recorder().handle(), log };
    tokio::spawn(admin::serve(listener, admin, std::future::pending()));

    let response = http::request(addr, "PUT", "/log-level", &[], &format!("info,{CRATE}=debug"))
        .await
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(debug_enabled(), "debug logs are on after the PUT");
    assert!(http::get(addr, "/log-level").await.unwrap().body.contains(&format!("{CRATE}=debug")));

    let refused = http::request(addr, "PUT", "/log-level", &[], "info,[unclosed").await.unwrap();
    assert_eq!(refused.status, 400);
    assert!(debug_enabled(), "a bad filter changes nothing");

    http::request(addr, "PUT", "/log-level", &[], "info").await.unwrap();
    assert!(!debug_enabled());
}
