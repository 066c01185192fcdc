//! `shop-service`: a small fake shop that duro workflows call over HTTP.
//!
//! Durable workflows earn their keep when the services they call misbehave:
//! a payment endpoint that fails twice before succeeding, a shipping call
//! that hangs until the caller is killed, a retry that must not charge the
//! card a second time. This service exists so that the end-to-end tests and
//! the README demo have a real HTTP counterpart that can be made to misbehave
//! on demand, and that afterwards tells exactly what it was asked to do.
//!
//! It offers three kinds of endpoints:
//!
//! - business endpoints (`/inventory/*`, `/payments/*`, `/shipping/*` and
//!   `GET /catalog/{sku}`), which hand out ids from one global counter and
//!   replay a stored answer when an `Idempotency-Key` is seen again, the way
//!   Stripe does ([`endpoints`], [`pipeline`]);
//! - a request log (`GET /requests`) recording every business request as it
//!   arrives, so a test can assert how often a workflow really called out and
//!   with which keys ([`state`]);
//! - fault injection (`POST /faults`), which makes the next few requests to a
//!   path fail, or answer slowly ([`control`]).
//!
//! Everything is held in memory; a restart forgets it all.
//!
//! The only output on stdout is the single `listening on http://ADDR` line,
//! written once the socket is bound, which is how tests find the port when
//! they start the service with `--listen 127.0.0.1:0`. Nothing is written per
//! request to stdout or stderr, so a test that pipes the output and never
//! reads it cannot stall the service.

mod control;
mod endpoints;
mod pipeline;
mod reply;
mod state;

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::routing::{get, post};
use clap::Parser;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::state::Shop;

/// How long in-flight requests may still run after a shutdown signal before
/// the service exits anyway (a request held up by an injected delay could
/// otherwise keep it alive for as long as the delay lasts).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Command line of `shop-service`.
#[derive(Debug, Parser)]
#[command(name = "shop-service", version, about = "A fake shop for duro's end-to-end tests and demos")]
struct Args {
    /// Address to listen on; port 0 picks a free port, printed on stdout.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener =
        TcpListener::bind(&args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr().context("cannot read the bound address")?;
    let app = router(Arc::new(Shop::default()));

    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on http://{addr}").context("cannot write to stdout")?;
        stdout.flush().context("cannot flush stdout")?;
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_shutdown_signal().await;
        // Nobody listening any more just means the server has already stopped.
        let _ = stop_tx.send(true);
    });

    let mut graceful_rx = stop_rx.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = graceful_rx.wait_for(|stop| *stop).await;
    });
    let mut deadline_rx = stop_rx;
    let deadline = async move {
        let _ = deadline_rx.wait_for(|stop| *stop).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };

    tokio::select! {
        served = async move { server.await } => served.context("server failed")?,
        () = deadline => {}
    }
    Ok(())
}

/// The whole HTTP surface: control endpoints as routes, and every other
/// request handed to the shop's [`pipeline`], which logs it before routing it.
fn router(shop: Arc<Shop>) -> Router {
    Router::new()
        .route("/faults", post(control::set_fault).delete(control::clear_faults))
        .route("/requests", get(control::list_requests).delete(control::clear_requests))
        .fallback(pipeline::handle)
        .with_state(shop)
}

/// Resolves on ctrl-c, or on SIGTERM where there is such a thing.
async fn wait_for_shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // Without a ctrl-c handler, rely on SIGTERM alone.
            std::future::pending::<()>().await;
        }
    };

    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
