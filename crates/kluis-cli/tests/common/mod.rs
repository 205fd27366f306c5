//! Helpers the `kluis` binary's integration tests share: running the binary against a vault
//! directory, insisting on success, reading JSON output, opening the vault through the store,
//! and `kluis serve` as a child process.
//! Not every test binary uses every helper.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use kluis_store::{Passphrase, Vault};
use serde_json::Value;

pub const PASS: &str = "correct horse battery staple";

/// The `kluis` binary set to the vault in `dir`, unlocked with `passphrase`.
pub fn kluis_cmd_as(dir: &Path, passphrase: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kluis"));
    cmd.env("KLUIS_VAULT", dir)
        .env("KLUIS_PASSPHRASE", passphrase)
        .env_remove("KLUIS_NEW_PASSPHRASE");
    cmd
}

/// The `kluis` binary set to the vault in `dir`, unlocked with [`PASS`].
pub fn kluis_cmd(dir: &Path) -> Command {
    kluis_cmd_as(dir, PASS)
}

/// Runs `kluis args` on the vault in `dir` with `passphrase`.
pub fn kluis_as(dir: &Path, passphrase: &str, args: &[&str]) -> Output {
    kluis_cmd_as(dir, passphrase).args(args).output().unwrap()
}

/// Runs `kluis args` on the vault in `dir` with [`PASS`].
pub fn kluis(dir: &Path, args: &[&str]) -> Output {
    kluis_as(dir, PASS, args)
}

/// Runs `cmd`, insists that it succeeded, and returns its stdout.
pub fn succeeded(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `kluis args` on the vault in `dir`, insists that it succeeded, and returns its stdout.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    succeeded(kluis_cmd(dir).args(args))
}

/// `kluis grant create` of an inbox contact right about orders to mail.example (a business
/// that may leave messages): its JSON (token, id).
pub fn inbox_grant(d: &Path) -> Value {
    json_of(&ok(
        d,
        &[
            "grant",
            "create",
            "--to",
            "mail.example",
            "--contact-channel",
            "inbox",
            "--contact-topic",
            "orders",
            "--purpose",
            "order updates",
            "--json",
        ],
    ))
}

pub fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A temporary directory made a vault by `kluis init_args`; returns it and what init printed.
pub fn fresh_with(init_args: &[&str]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(dir.path(), init_args);
    (dir, out)
}

/// A new vault made by a plain `kluis init`.
pub fn fresh() -> tempfile::TempDir {
    fresh_with(&["init"]).0
}

/// The vault in `dir`, opened through the store.
pub fn vault(dir: &Path) -> Vault {
    Vault::open(dir, &Passphrase::new(PASS)).unwrap()
}

/// A child process that is killed when dropped, so a failing test leaves no server behind.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd`, reads its stdout until the serving line, and returns the base URL and the
/// lines printed before it.
pub fn start(mut cmd: Command) -> (Running, String, Vec<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stdout).lines();
    for line in reader.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("Serving the grant API on ") {
            let url = rest.split_whitespace().next().unwrap().to_owned();
            // Keep reading what it prints later, as a terminal would.
            std::thread::spawn(move || reader.for_each(drop));
            return (running, url, lines);
        }
        lines.push(line);
    }
    panic!("the server never said where it listens: {lines:?}");
}
