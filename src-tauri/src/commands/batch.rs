//! UC-BATCH (seed 003): the issue queue, batches on the board, a run on
//! several readers with each reader's events pushed live, cancel, retry.

use station::{BatchBoard, BatchOptionsInput, BoardEvent, BoardNames, RequestRow};
use tauri::ipc::Channel;
use tauri::State;
use uuid::Uuid;

use super::Reply;
use crate::App;

/// Approved card requests a batch can take.
#[tauri::command]
#[specta::specta]
pub async fn batch_queue(app: State<'_, App>) -> Reply<Vec<RequestRow>> {
    Ok(app
        .desk()
        .with_session(|s| Ok(s.approved_requests()?.iter().map(|v| s.request_row(&v.request)).collect()))
        .await?)
}

/// This station's batches, newest first.
#[tauri::command]
#[specta::specta]
pub async fn batches(app: State<'_, App>) -> Reply<Vec<BatchBoard>> {
    Ok(app.desk().with_session(|s| s.batch_boards()).await?)
}

/// A batch of the selected approved `requests` with `options`.
#[tauri::command]
#[specta::specta]
pub async fn create_batch(
    app: State<'_, App>,
    requests: Vec<Uuid>,
    options: BatchOptionsInput,
) -> Reply<BatchBoard> {
    let options = options.to_options()?;
    let ids: Vec<domain::RequestId> = requests.into_iter().map(Into::into).collect();
    Ok(app
        .desk()
        .with_session(move |s| {
            let id = s.create_batch(&ids, options)?.id;
            s.batch_board(id)
        })
        .await?)
}

/// Encodes batch `batch` on `readers` until no card is pending or it is
/// cancelled; finishes interrupted cards found in a reader (also after a
/// restart of the app). Each reader's events go to `events`.
#[tauri::command]
#[specta::specta]
pub async fn run_batch(
    app: State<'_, App>,
    batch: Uuid,
    readers: Vec<String>,
    events: Channel<BoardEvent>,
) -> Reply<BatchBoard> {
    let desk = app.desk().clone();
    let names = desk.with_session(move |s| Ok(BoardNames::of(s, &s.batch(batch)?))).await?;
    let stop = app.batch_stop(batch);
    let keeper = desk.clone();
    let held = readers.clone();
    let run = desk
        .readers_job(&held, move |s| {
            let sink = Board { names, events, desk: keeper };
            s.resume_batch(batch, &readers, &stop, &sink)
        })
        .await;
    app.batch_done(batch);
    app.push_sync_status().await;
    run?;
    Ok(desk.with_session(move |s| s.batch_board(batch)).await?)
}

/// Stops batch `batch` before its next card; cards being written finish.
#[tauri::command]
#[specta::specta]
pub async fn cancel_batch(app: State<'_, App>, batch: Uuid) -> Reply<BatchBoard> {
    app.cancel_batch(batch);
    Ok(app
        .desk()
        .with_session(move |s| {
            s.cancel_batch(batch)?;
            s.batch_board(batch)
        })
        .await?)
}

/// Puts the failed cards of `batch` back for one more attempt (run it again).
#[tauri::command]
#[specta::specta]
pub async fn retry_failed(app: State<'_, App>, batch: Uuid) -> Reply<BatchBoard> {
    Ok(app
        .desk()
        .with_session(move |s| {
            s.retry_failed(batch)?;
            s.batch_board(batch)
        })
        .await?)
}

/// The board's sink: events named, PINs kept for their reveal.
struct Board {
    names: BoardNames,
    events: Channel<BoardEvent>,
    desk: std::sync::Arc<station::Desk>,
}

impl station::BatchProgress for Board {
    fn event(&self, event: station::BatchEvent) {
        let _ = self.events.send(self.names.event(event, self.desk.reveals()));
    }
}
