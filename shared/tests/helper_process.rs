//! `HelperProcess` with a real program: this crate's `tcp-echo`, which exits when it cannot bind.

use std::{
    net::{TcpListener, TcpStream},
    process::Command,
};

use shared::helper_process::HelperProcess;

fn tcp_echo(port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tcp-echo"));
    command.arg(format!("127.0.0.1:{port}"));
    command
}

#[test]
fn a_program_whose_port_is_taken_says_why_and_is_started_on_another() {
    // A client's connection holds the port, as an outgoing connection may during a test run.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(server.local_addr().unwrap()).unwrap();
    let taken = client.local_addr().unwrap().port();

    let why = HelperProcess::try_start(taken, tcp_echo(taken)).unwrap_err();
    assert!(why.contains("exited") && why.contains("Address already in use"), "{why}");

    // The first port `start` offers is answered with the taken one, so that attempt fails.
    let mut offered = Vec::new();
    let helper = HelperProcess::start(|port| {
        offered.push(port);
        tcp_echo(if offered.len() == 1 { taken } else { port })
    });
    assert_eq!(offered.len(), 2, "{offered:?}");
    assert_eq!(helper.port, offered[1]);
    assert!(TcpStream::connect(("127.0.0.1", helper.port)).is_ok());
}

#[test]
fn stopping_kills_the_program_and_its_output_stays_readable() {
    let mut helper = HelperProcess::start(tcp_echo);
    assert!(helper.output().contains("tcp echo on"), "{}", helper.output());
    helper.stop();
    assert!(TcpStream::connect(("127.0.0.1", helper.port)).is_err());
}
