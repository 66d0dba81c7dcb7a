//! Property test: whatever bytes a peer sends after the upgrade (well-formed frames with
//! arbitrary flags, opcodes, masks and payloads, or plain garbage), the server answers or
//! closes that one connection, and keeps serving everyone else.

use std::{sync::Arc, time::Duration};

use proptest::{collection, prelude::*, test_runner::TestRunner};
use serde_json::json;
use test_support::{
    client::TestClient,
    raw::{self, Frame},
};
use tokio::{io::AsyncWriteExt, net::TcpListener};

// The chapter under test: the only name that changes when the next chapter copies this file.
use ch09_scale_out as chapter;
use chapter::{Config, app::App};

/// A frame with arbitrary header bits: FIN, RSV, any opcode, masked or not.
fn frame() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<bool>(),
        0u8..16,
        any::<bool>(),
        any::<[u8; 4]>(),
        collection::vec(any::<u8>(), 0..300),
        0u8..8,
    )
        .prop_map(|(fin, opcode, masked, key, payload, rsv)| {
            let mut bytes = raw::client_frame(fin, opcode, &payload, masked.then_some(key));
            bytes[0] |= rsv << 4;
            bytes
        })
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        collection::vec(frame(), 1..5).prop_map(|frames| frames.concat()),
        collection::vec(any::<u8>(), 1..600),
    ]
}

#[test]
fn arbitrary_frames_never_take_the_server_down() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (addr, app) = runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = App::new(Config { max_message: 256, ..Config::default() });
        tokio::spawn(chapter::serve(listener, Arc::clone(&app), std::future::pending()));
        (addr, app)
    });

    let mut runner = TestRunner::new(ProptestConfig::with_cases(128));
    runner
        .run(&input(), |bytes| {
            runtime.block_on(async {
                let mut socket = raw::handshake(addr, "/").await.unwrap();
                assert_eq!(raw::read_frame(&mut socket).await.unwrap().opcode, Frame::TEXT); // welcome
                let _ = socket.write_all(&bytes).await;
                // The server answers, waits for more, or closes: any of those is fine, as long
                // as it does not hang up on everyone.
                let _ = tokio::time::timeout(
                    Duration::from_millis(20),
                    raw::read_until_close(&mut socket),
                )
                .await;
                drop(socket);

                let mut client = TestClient::connect(addr).await.unwrap();
                assert_eq!(client.recv_json().await.unwrap()["type"], "welcome");
                client.send_json(&json!({"type":"echo","data":"still up"})).await.unwrap();
                assert_eq!(client.recv_json().await.unwrap()["data"], "still up");
            });
            Ok(())
        })
        .unwrap();
    runtime.block_on(test_support::capture::eventually("all sessions ended", || {
        app.registry.session_count() == 0
    }));
}
