//! A second opinion on webhook deliveries: the Standard Webhooks reference library for Python
//! (pinned in tests/webhooks/requirements.txt) run by tests/webhooks/verify_standardwebhooks.py
//! on a capture file. Python is `KLUIS_PYTHON` (.ci/run sets it to a venv with the library);
//! under `CI` a missing one fails the test, elsewhere the check is skipped with a note.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

use serde_json::json;

/// One delivery as the receiver saw it, and the secret it should verify with.
pub struct Capture<'a> {
    pub secret: &'a str,
    pub id: &'a str,
    pub timestamp: i64,
    pub signature: &'a str,
    /// The body's bytes exactly as sent (JSON, so UTF-8).
    pub body: &'a [u8],
}

impl Capture<'_> {
    /// Writes the capture as the script reads it, to `path`.
    pub fn write(&self, path: &Path) {
        let body = std::str::from_utf8(self.body).expect("a delivery's body is UTF-8 JSON");
        let capture = json!({
            "secret": self.secret,
            "headers": {
                "webhook-id": self.id,
                "webhook-timestamp": self.timestamp.to_string(),
                "webhook-signature": self.signature,
            },
            "body": body,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&capture).unwrap()).unwrap();
    }
}

/// The Python to run, or `None` (after saying so) when the check is skipped.
fn python() -> Option<PathBuf> {
    match std::env::var_os("KLUIS_PYTHON") {
        Some(python) if !python.is_empty() => Some(PathBuf::from(python)),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must check webhooks with the Python standardwebhooks library, but \
                 KLUIS_PYTHON is not set (.ci/run installs tests/webhooks/requirements.txt \
                 in a venv and sets it)"
            );
            static NOTED: Once = Once::new();
            NOTED.call_once(|| {
                println!(
                    "standardwebhooks check not run: set KLUIS_PYTHON to a Python with \
                     `pip install -r tests/webhooks/requirements.txt`"
                )
            });
            None
        }
    }
}

fn run_script(capture: &Path, expect_fail: bool) {
    let Some(python) = python() else { return };
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webhooks/verify_standardwebhooks.py");
    let mut command = Command::new(&python);
    command.arg(&script).arg(capture);
    if expect_fail {
        command.arg("--expect-fail");
    }
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{} on {} ({}): {said}",
        script.display(),
        capture.display(),
        if expect_fail {
            "expecting a refusal"
        } else {
            "expecting it to verify"
        }
    );
    println!("{}", said.trim_end());
}

/// Asserts that the Python library verifies the delivery in `capture`, and refuses copies of it
/// with the body, id or timestamp changed. Run it within five minutes of the delivery's
/// timestamp: the library checks it against the clock.
pub fn python_standardwebhooks_verifies(capture: &Path) {
    run_script(capture, false);
}

/// Asserts that the Python library refuses the delivery in `capture`.
pub fn python_standardwebhooks_refuses(capture: &Path) {
    run_script(capture, true);
}
