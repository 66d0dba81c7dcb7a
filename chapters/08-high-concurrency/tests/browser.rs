//! The demo page in a real browser. Two headless Chromium pages connect to an in-process
//! server, join a room, send to the room and to a session, show an error reply, time the echo
//! round trip, and report the server's 1001 close when it shuts down.
//!
//! The browser test needs `chromium` and `chromedriver` (Debian: `chromium`,
//! `chromium-driver`), so a plain `cargo test` skips it; `.ci/run` installs both and runs it
//! with `--ignored`. Chapter 08's run saves a screenshot as the book's `images/ch08-demo.png`.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator, wd::Capabilities};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use test_support::{helper_process::HelperProcess, http};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle, time::Instant};
use tracing_subscriber::EnvFilter;

// The chapter under test: the only name that changes when the next chapter copies this file.
use ch08_high_concurrency as chapter;
use chapter::{
    Config,
    admin::{self, Admin},
    app::App,
    metrics::prometheus_recorder,
};

/// The book's picture of the demo page (under `book/src/images/`), which this chapter's run
/// takes; `None` in a later chapter, whose run must not overwrite it.
const SCREENSHOT: Option<&str> = Some("ch08-demo.png");

/// How long any one thing may take to show up on a page.
const WAIT: Duration = Duration::from_secs(10);

/// The WebSocket server and its admin listener, in this process, with a shutdown to trigger.
struct Server {
    ws: SocketAddr,
    admin: SocketAddr,
    stop: oneshot::Sender<()>,
    done: JoinHandle<()>,
}

async fn start_server() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws = listener.local_addr().unwrap();
    let app = App::new(Config::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async {
        let _ = stopped.await;
    };
    let done = tokio::spawn(chapter::serve(listener, Arc::clone(&app), shutdown));

    let admin_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = admin_listener.local_addr().unwrap();
    let (_layer, log) = shared::logging::reloadable(EnvFilter::new("info"));
    let state = Admin {
        app: Arc::clone(&app),
        metrics: prometheus_recorder().registry().clone(),
        log,
        public_addr: ws,
    };
    tokio::spawn(admin::serve(admin_listener, state, app.shutdown.clone().cancelled_owned()));
    Server { ws, admin, stop, done }
}

#[tokio::test]
async fn the_demo_page_is_served_with_the_websocket_address() {
    let server = start_server().await;
    let page = http::get(server.admin, "/").await.unwrap();
    assert_eq!(page.status, 200);
    let head = page.head.to_lowercase();
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(head.contains("content-security-policy: default-src 'none'"), "{head}");
    let url = format!(r#"<meta name="ws-url" content="ws://{}/">"#, server.ws);
    assert!(page.body.contains(&url), "the page names the WebSocket address: {url}");
    assert!(!page.body.contains("{{"), "no placeholder is left");
}

// ANCHOR: browser_test
#[tokio::test]
#[ignore = "needs chromium and chromedriver; run by .ci/run"]
async fn two_browsers_chat_through_the_demo_page_and_see_the_shutdown() {
    let server = start_server().await;
    // Dropped last: the profiles outlive the browsers that use them.
    let profiles = TempDir::new(concat!(env!("CARGO_PKG_NAME"), "-browser"));
    let driver = Chromedriver::start().await;

    // Alice uses the address the server filled in; Bob names it in `?ws=`.
    let alice = Page::open(&driver, &profiles.path.join("alice"), "alice").await;
    let bob = Page::open(&driver, &profiles.path.join("bob"), "bob").await;
    alice.client.goto(&format!("http://{}/", server.admin)).await.unwrap();
    bob.client.goto(&format!("http://{}/?ws=ws://{}/", server.admin, server.ws)).await.unwrap();
    let ws_url = format!("ws://{}/", server.ws);
    for page in [&alice, &bob] {
        assert_eq!(page.value("#url").await, ws_url, "{}", page.name);
        page.wait_for("#state", "open").await;
        page.wait_for("#log li.system", "welcome: you are session").await;
    }
    let alice_id = alice.text("#session").await;
    let bob_id = bob.text("#session").await;
    assert_ne!(alice_id, bob_id);

    for page in [&alice, &bob] {
        page.fill("#room", "lobby").await;
        page.click("#join").await;
        page.wait_for("#rooms li", "lobby").await;
    }

    // To the room: Bob sees it, with who sent it, where, and its trace id.
    alice.fill("#target", "lobby").await;
    alice.fill("#text", "hello from alice").await;
    alice.click("#send").await;
    let message = bob.wait_for("#log li.message", "hello from alice").await;
    assert!(message.contains(&format!("from {alice_id} · room lobby · trace {alice_id}-")));
    alice.wait_for("#log li.sent", "to room lobby: hello from alice").await;

    // To a session, with JSON data.
    alice.select("#target-kind", "session").await;
    alice.fill("#target", &bob_id).await;
    alice.fill("#text", r#"{"note":"just for you"}"#).await;
    alice.click("#send").await;
    let direct = bob.wait_for("#log li.direct", r#"{"note":"just for you"}"#).await;
    assert!(direct.contains(&format!("from {alice_id} · trace {alice_id}-")));

    // An error reply is shown plainly: code, message, trace.
    bob.fill("#target", "nowhere").await;
    bob.fill("#text", "anyone?").await;
    bob.click("#send").await;
    let error = bob.wait_for("#log li.error", "not_in_room").await;
    assert!(
        error.contains(&format!("request publish to room nowhere · id 2 · trace {bob_id}-")),
        "{error}"
    );

    for page in [&alice, &bob] {
        page.wait_for("#rtt", " ms (last ").await;
    }
    screenshot(&bob).await;

    // The server shuts down: both pages say how it closed.
    server.stop.send(()).unwrap();
    for page in [&alice, &bob] {
        page.wait_for("#close-info", r#"1001 "server shutdown" (going away)"#).await;
        page.wait_for("#state", "closed").await;
        // Not `wasClean`: the server drops the socket right after its Close frame, so the
        // browser's reply can meet a reset, and whether it does is a race.
        page.wait_for("#log li.closed", "connection closed: 1001").await;
    }
    tokio::time::timeout(WAIT, server.done).await.expect("the server stops").unwrap();

    alice.client.close().await.unwrap();
    bob.client.close().await.unwrap();
}
// ANCHOR_END: browser_test

/// Saves the page as the book's picture of the demo, when this chapter takes it.
async fn screenshot(page: &Page) {
    let png = page.client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let Some(name) = SCREENSHOT else { return };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../book/src/images").join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, png).unwrap();
}

/// One browser, with its own profile, showing the demo page.
struct Page {
    client: Client,
    name: &'static str,
}

impl Page {
    async fn open(driver: &Chromedriver, profile: &Path, name: &'static str) -> Self {
        let mut capabilities = Capabilities::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--window-size=1200,880",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url())
            .await
            .unwrap_or_else(|error| panic!("{name}: start a browser session: {error}"));
        Self { client, name }
    }

    async fn text(&self, css: &str) -> String {
        self.client.find(Locator::Css(css)).await.unwrap().text().await.unwrap()
    }

    async fn value(&self, css: &str) -> String {
        let input = self.client.find(Locator::Css(css)).await.unwrap();
        input.prop("value").await.unwrap().unwrap_or_default()
    }

    async fn fill(&self, css: &str, value: &str) {
        let input = self.client.find(Locator::Css(css)).await.unwrap();
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.client.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
    }

    async fn select(&self, css: &str, value: &str) {
        self.client.find(Locator::Css(css)).await.unwrap().select_by_value(value).await.unwrap();
    }

    /// The text of the first element matching `css` that contains `needle`, once there is one;
    /// panics with what the page showed if none appears within [`WAIT`].
    async fn wait_for(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            seen.clear();
            for element in self.client.find_all(Locator::Css(css)).await.unwrap() {
                // An element may be replaced between finding and reading it.
                if let Ok(text) = element.text().await {
                    if text.contains(needle) {
                        return text;
                    }
                    seen.push(text);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = self.text("#log").await;
        panic!(
            "{}: no `{css}` containing {needle:?} within {WAIT:?}; saw {seen:?}\nlog:\n{log}",
            self.name
        )
    }
}

/// A `chromedriver` of this test's own. Dropping it kills its process group, chromedriver
/// and every browser it started, so nothing outlives the test, even when the test fails.
struct Chromedriver(HelperProcess);

impl Chromedriver {
    async fn start() -> Self {
        // Waiting for it to listen blocks: not on the runtime's thread.
        let start = || {
            HelperProcess::start(|port| {
                let mut command = Command::new("chromedriver");
                command.arg(format!("--port={port}"));
                command
            })
        };
        Self(tokio::task::spawn_blocking(start).await.expect("start chromedriver"))
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.0.port)
    }
}

/// A directory removed when dropped.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(prefix: &str) -> Self {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Self { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
