//! `/metrics`, `/healthz` and `/readyz` on one port. Readiness means the process can serve
//! and reach the API server and, while it runs the controller, that its caches have synced
//! and none has been unsynced for longer than `--unsynced-timeout`; it does not mean
//! leadership, so standby replicas stay ready. Liveness stays up through a stall: a restart
//! would not make a failing watch succeed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::metrics::Metrics;
use crate::stall::Caches;

/// What the HTTP endpoints report.
pub struct Health {
    /// Set once the API server answered.
    pub ready: AtomicBool,
    /// The metrics to expose.
    pub metrics: Arc<Metrics>,
    /// The caches' health.
    pub caches: Arc<Caches>,
}

async fn metrics(
    State(h): State<Arc<Health>>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        h.metrics.encode(),
    )
}

async fn readyz(State(h): State<Arc<Health>>) -> (StatusCode, String) {
    if !h.ready.load(Ordering::Acquire) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the API server has not answered yet\n".to_string(),
        );
    }
    match h.caches.not_ready() {
        Some(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
        None => (StatusCode::OK, "ok\n".to_string()),
    }
}

/// Binds `addr` and serves until `shutdown` resolves; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    health: Arc<Health>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(health);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "http server stopped");
        }
    });
    Ok(bound)
}
