//! The process signals this program stops on, as futures: SIGTERM (Kubernetes stopping a pod)
//! and SIGINT (Ctrl-C).

/// Resolves on the first SIGTERM or SIGINT. When SIGTERM cannot be listened for (never on
/// Linux), on SIGINT alone.
pub async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Starts listening for SIGTERM now and resolves on the first one. Listening replaces the
/// signal's default action (ending the process) for good, so call it only once the caller can
/// stop by itself.
pub fn sigterm() -> std::io::Result<impl std::future::Future<Output = ()> + Send> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        term.recv().await;
    })
}
