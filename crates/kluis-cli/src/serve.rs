//! `kluis serve` and `kluis demo`: the grant API for a vault, on a tokio runtime.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use kluis_core::grant::{BusinessId, GrantRequest};
use kluis_core::relationship::Limits;
use kluis_core::{Pointer, document};
use kluis_server::notify::{self, Dispatcher};
use kluis_server::{AppState, ConnectionLimits, Dashboard, LogDurability};
use kluis_store::{KdfParams, Passphrase, Unlocked, Vault, unix_now};

use crate::args::{DemoArgs, Global};
use crate::document::print_json;
use crate::open;

pub fn serve(global: &Global, options: Options<'_>) -> Result<()> {
    let vault = open(global)?;
    run_server(
        vault.path().parent().unwrap_or(Path::new(".")),
        vault.unlocked(),
        options,
        None,
    )
}

pub fn demo(args: DemoArgs) -> Result<()> {
    let dir = match args.dir {
        Some(dir) => dir,
        None => {
            std::env::temp_dir().join(format!("kluis-demo-{}-{}", std::process::id(), unix_now()))
        }
    };
    let passphrase = Passphrase::new("demo passphrase");
    let vault = Vault::create(&dir, &passphrase, KdfParams::OWASP_MINIMUM)?;
    vault.replace_document(document::sample())?;
    let (grant, token) = vault.create_grant(
        GrantRequest {
            audience: BusinessId::parse("webshop.example")?,
            fields: vec![
                Pointer::parse("/profile/email")?,
                Pointer::parse("/profile/address")?,
            ],
            purpose: "order delivery".into(),
            purpose_category: Some("contract".into()),
            lifetime_secs: 7 * 24 * 3600,
            key_thumbprint: None,
            append_record: false,
            contact: None,
        },
        unix_now(),
    )?;
    println!(
        "A demo vault is in {} (passphrase: \"demo passphrase\").",
        dir.display()
    );
    println!("Its document, decrypted:");
    print_json(&vault.document()?);
    let env = format!(
        "KLUIS_VAULT={} KLUIS_PASSPHRASE='demo passphrase'",
        dir.display()
    );
    println!();
    println!(
        "webshop.example may read /profile/email and /profile/address for \"order delivery\"."
    );
    println!("Grant {} — its token:", grant.id);
    println!("TOKEN={token}");
    if args.no_serve {
        println!("Serve it with: {env} kluis serve");
        return Ok(());
    }
    let hints = DemoHints {
        env,
        token,
        grant: grant.id.to_string(),
    };
    run_server(
        &dir,
        vault.unlocked(),
        Options {
            listen: &args.listen,
            public_url: None,
            no_log_fsync: false,
            allow_local_webhooks: false,
            limits: Limits::default(),
            connections: ConnectionLimits::default(),
        },
        Some(hints),
    )
}

struct DemoHints {
    env: String,
    token: String,
    grant: String,
}

/// How `kluis serve` (or `demo`) serves.
pub struct Options<'a> {
    pub listen: &'a str,
    pub public_url: Option<String>,
    pub no_log_fsync: bool,
    pub allow_local_webhooks: bool,
    /// The quotas of businesses' relationship entries.
    pub limits: Limits,
    /// The header timeout and the cap on open connections.
    pub connections: ConnectionLimits,
}

fn run_server(
    dir: &Path,
    unlocked: &Unlocked,
    options: Options<'_>,
    demo: Option<DemoHints>,
) -> Result<()> {
    let Options {
        listen,
        public_url,
        no_log_fsync,
        allow_local_webhooks,
        limits,
        connections,
    } = options;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "kluis_server=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let durability = if no_log_fsync {
        LogDurability::NoFsync
    } else {
        LogDurability::Fsync
    };
    let state = AppState::open_limited(dir, unlocked, durability, limits)?;
    state.set_public_url(public_url.clone())?;
    state.set_allow_local_webhooks(allow_local_webhooks);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Delivers change notifications and decisions from the outbox while the server runs.
    let dispatcher = Dispatcher::start(
        dir,
        unlocked,
        notify::Options {
            allow_local: allow_local_webhooks,
            ..notify::Options::default()
        },
        runtime.handle().clone(),
    )?;
    state.set_waker(Some(dispatcher.waker()));
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}");
        let dashboard = match Dashboard::may_serve(addr, public_url.as_deref()) {
            Ok(()) => Some(Dashboard::open(dir, unlocked, state.clone())?),
            Err(not) => {
                eprintln!("kluis: {}; serving the grant API alone", not.0);
                None
            }
        };
        // The server must outlive whoever reads its stdout: write errors (a closed pipe) are
        // ignored rather than allowed to stop it.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "Serving the grant API on {url} (Ctrl-C stops).");
        if dashboard.is_some() {
            let base = public_url.as_deref().unwrap_or(&url).trim_end_matches('/');
            let _ = writeln!(
                out,
                "The owner's dashboard: {base}/dashboard/ (sign in with the vault's passphrase)."
            );
        }
        if let Some(hints) = demo {
            let _ = writeln!(
                out,
                "\nTry it:\n  curl -s -H 'Authorization: Bearer {}' {url}/v1/data\n  curl -s {url}/.well-known/jwks.json\n\
                 Revoke it from another terminal, and the next curl gets 401:\n  \
                 {} cargo run -q -p kluis-cli -- grant revoke {}\n  {} cargo run -q -p kluis-cli -- log",
                hints.token, hints.env, hints.grant, hints.env
            );
        }
        let _ = out.flush();
        drop(out);
        kluis_server::serve_with_limits(listener, state, dashboard, connections, shutdown_signal())
            .await?;
        Ok::<(), anyhow::Error>(())
    })?;
    dispatcher.stop();
    eprintln!("kluis: stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
