//! UC-AUDIT: the trail with names, its charts, and the chain's verification.

use station::{AuditQuery, AuditReport, ChainView, ErrorCode, ErrorView};
use tauri::State;

use super::Reply;
use crate::App;

/// The audit events matching `query`, with the charts.
#[tauri::command]
#[specta::specta]
pub async fn audit(app: State<'_, App>, query: AuditQuery) -> Reply<AuditReport> {
    Ok(app.desk().with_session(move |s| s.audit_report(&query)).await?)
}

/// The registry verifies the whole audit chain.
#[tauri::command]
#[specta::specta]
pub async fn audit_chain(app: State<'_, App>) -> Reply<ChainView> {
    Ok(app.desk().with_session(|s| s.audit_chain()).await?)
}

/// Exports the events matching `query` as CSV to a file the operator
/// chooses in the system's save dialog; returns where, or null when the
/// dialog was dismissed.
#[tauri::command]
#[specta::specta]
pub async fn export_audit(
    window: tauri::Window,
    app: State<'_, App>,
    query: AuditQuery,
) -> Reply<Option<String>> {
    use tauri_plugin_dialog::DialogExt;
    let filter = query.to_filter()?;
    let rows = app.desk().with_session(move |s| s.audit(&filter)).await?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    window
        .dialog()
        .file()
        .set_parent(&window)
        .set_title("Export the audit trail")
        .set_file_name("audit.csv")
        .add_filter("CSV", &["csv"])
        .save_file(move |chosen| {
            let _ = tx.send(chosen);
        });
    let Some(path) = rx.await.ok().flatten() else { return Ok(None) };
    let path = path.into_path().map_err(|_| {
        ErrorView::new(ErrorCode::BadInput, "the chosen place is not a file on this computer")
    })?;
    let written = std::fs::File::create(&path)
        .and_then(|file| station::write_csv(&rows, std::io::BufWriter::new(file)));
    written.map_err(|e| ErrorView::new(ErrorCode::Io, format!("cannot write {}: {e}", path.display())))?;
    Ok(Some(path.display().to_string()))
}
