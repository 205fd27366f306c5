//! Stalled clients against a running server, and what they cost it: opens `--connections`
//! connections that each send half a request line ("GET /v1/da") and stop, and reports the
//! server's resident memory (VmRSS of `--pid`, from /proc) before, with them open, and after
//! the server has closed them, and when it closed them.
//!
//! ```text
//! kluis serve --listen 127.0.0.1:8080 &   # or kluis demo
//! cargo run --example slow_clients -- --addr 127.0.0.1:8080 --pid $! --connections 3000
//! ```

use std::time::{Duration, Instant};

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Parser)]
struct Args {
    /// The server's address
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// The server's process id, whose memory is read from /proc/PID/status
    #[arg(long)]
    pid: u32,
    /// Stalled connections to open
    #[arg(long, default_value_t = 3000)]
    connections: usize,
    /// How long to wait for the server to close them, in seconds
    #[arg(long, default_value_t = 30)]
    wait: u64,
}

/// `VmRSS` and `VmHWM` (peak) of `pid`, in kB.
fn memory(pid: u32) -> std::io::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Ok((field("VmRSS:"), field("VmHWM:")))
}

fn report(pid: u32, when: &str) -> std::io::Result<()> {
    let (rss, peak) = memory(pid)?;
    println!(
        "{when:<44} VmRSS {:>7.1} MB  (peak {:.1} MB)",
        rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    report(args.pid, "before")?;
    let started = Instant::now();
    let mut streams = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let mut stream = TcpStream::connect(&args.addr).await?;
        // A connection the server closed at once (at its cap) may refuse the write.
        let _ = stream.write_all(b"GET /v1/da").await;
        streams.push(stream);
    }
    println!(
        "{} connections opened in {:.2} s",
        args.connections,
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    report(args.pid, "with them open")?;
    let wait = Duration::from_secs(args.wait);
    let checked = started.elapsed();
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            tokio::spawn(async move {
                let mut buf = [0u8; 512];
                let closed = tokio::time::timeout(wait, async {
                    while let Ok(n) = stream.read(&mut buf).await
                        && n > 0
                    {}
                })
                .await;
                closed.ok().map(|()| started.elapsed())
            })
        })
        .collect();
    let mut closed = Vec::new();
    let mut open = 0;
    for task in tasks {
        match task.await? {
            Some(at) => closed.push(at),
            None => open += 1,
        }
    }
    closed.sort();
    // Those the server closed at once (beyond its cap) were closed before they were checked.
    let at_once = closed
        .iter()
        .filter(|at| **at < checked + Duration::from_millis(100))
        .count();
    println!(
        "closed by the server: {} ({at_once} of them at once, the last {:.2} s after the first \
         was opened); still open after {} s: {open}",
        closed.len(),
        closed.last().map_or(0.0, Duration::as_secs_f64),
        args.wait
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    report(args.pid, "after the server closed them")?;
    Ok(())
}
