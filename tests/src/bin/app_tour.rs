//! `app_tour STATION_DIR`: opens the desktop app on the station in
//! `STATION_DIR` under a virtual display, signs in as `ivy`
//! (`$CARDSTATION_PASSWORD`) through WebDriver, and saves a screenshot of
//! each main screen to `$CARDSTATION_SCREENSHOTS` (scripts/run, where there
//! is no display).

use std::path::PathBuf;

use anyhow::{Context, Result};
use e2e::window::AppWindow;

fn main() -> Result<()> {
    let station: PathBuf = std::env::args_os().nth(1).context("usage: app_tour STATION_DIR")?.into();
    let password = std::env::var("CARDSTATION_PASSWORD").context("CARDSTATION_PASSWORD")?;
    let app = AppWindow::open("app", &station, 300)?;
    app.screenshot("1-sign-in")?;
    app.sign_in("ivy", &password)?;
    app.wait_for("[data-testid=status-operator]")?;
    app.wait_for("[data-testid=reader-chip]")?;
    app.screenshot("2-cards")?;
    if app.click("[data-testid=reader-chip][data-status=blank]").is_ok() {
        app.wait_for("[data-testid=device-blank]")?;
        app.screenshot("3-device-blank")?;
    }
    app.click("[data-testid=nav-requests]")?;
    app.wait_for("[data-testid=request-table], [data-testid=requests-empty]")?;
    app.screenshot("4-requests")?;
    app.click("[data-testid=nav-search]")?;
    app.type_into("[data-testid=search-input]", "a")?;
    app.wait_for("[data-testid=search-row], [data-testid=search-empty]")?;
    app.screenshot("5-search")?;
    app.click("[data-testid=nav-sync]")?;
    app.wait_for("[data-testid=sync-retry]")?;
    app.screenshot("6-sync")?;
    app.click("[data-testid=nav-batch]")?;
    app.click("[data-testid=batch-new]")?;
    app.wait_for("[data-testid=batch-queue-row], [data-testid=batch-queue-empty]")?;
    app.screenshot("7-batch-new")?;
    app.click("[data-testid=nav-temporary]")?;
    app.wait_for("[data-testid=temp-table], [data-testid=temp-empty]")?;
    app.screenshot("8-temporary-cards")?;
    app.click("[data-testid=nav-audit]")?;
    app.wait_for("[data-testid=audit-table], [data-testid=audit-empty]")?;
    app.screenshot("9-audit")?;
    println!("screenshots in {}", e2e::window::screenshot_dir().display());
    Ok(())
}
