//! `HelperProcess` with a real program: this test binary itself, run again as a TCP listener
//! (`listener_for_the_tests_above`), which exits when it cannot bind.

use std::{
    net::{TcpListener, TcpStream},
    process::Command,
};

use test_support::helper_process::HelperProcess;

/// Where the re-run binary listens; unset in the test run itself.
const LISTEN: &str = "HELPER_PROCESS_TEST_LISTEN";

fn listener(port: u16) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args(["--exact", "listener_for_the_tests_above", "--nocapture"]);
    command.env(LISTEN, format!("127.0.0.1:{port}"));
    command
}

#[test]
fn a_program_whose_port_is_taken_says_why_and_is_started_on_another() {
    // A client's connection holds the port, as an outgoing connection may during a test run.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(server.local_addr().unwrap()).unwrap();
    let taken = client.local_addr().unwrap().port();

    let why = HelperProcess::try_start(taken, listener(taken)).unwrap_err();
    assert!(why.contains("exited") && why.contains("Address already in use"), "{why}");

    // The first port `start` offers is answered with the taken one, so that attempt fails.
    let mut offered = Vec::new();
    let helper = HelperProcess::start(|port| {
        offered.push(port);
        listener(if offered.len() == 1 { taken } else { port })
    });
    assert_eq!(offered.len(), 2, "{offered:?}");
    assert_eq!(helper.port, offered[1]);
    assert!(TcpStream::connect(("127.0.0.1", helper.port)).is_ok());
}

#[test]
fn stopping_kills_the_program_and_its_output_stays_readable() {
    let mut helper = HelperProcess::start(listener);
    let port = helper.port;
    assert!(helper.output().contains(&format!("binding 127.0.0.1:{port}")), "{}", helper.output());
    helper.stop();
    assert!(TcpStream::connect(("127.0.0.1", helper.port)).is_err());
}

/// Not a test: the program the tests above start. In their own run it returns at once.
#[test]
fn listener_for_the_tests_above() {
    let Ok(addr) = std::env::var(LISTEN) else { return };
    // Printed before the port is bound, so it is in the output by the time a client connects.
    println!("binding {addr}");
    let listener = TcpListener::bind(&addr).unwrap_or_else(|error| panic!("bind {addr}: {error}"));
    for connection in listener.incoming() {
        drop(connection);
    }
}
