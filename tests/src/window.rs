//! The real app window for whole-stack UI tests: the `cardstation-app`
//! binary under a virtual display (Xvfb), driven over WebDriver through
//! `tauri-driver` and WebKitWebDriver, with `fantoccini` as the client.
//!
//! One Xvfb serves every window test of a test binary (started on first
//! use unless `DISPLAY` names one); each [`AppWindow`] has its own
//! tauri-driver on free ports, whose environment the app inherits (its
//! station data directory, its idle lock).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// How long the window may take to show what a test waits for.
pub const UI_WAIT: Duration = Duration::from_secs(60);
/// How long one WebDriver call may take (a wait for an element included).
const CALL_WAIT: Duration = Duration::from_secs(75);

/// The `cardstation-app` binary next to the test executable.
pub fn app_bin() -> PathBuf {
    crate::tools::bin_next_to_tests("cardstation-app")
}

/// Where the suite's screenshots go: `$CARDSTATION_SCREENSHOTS`, else
/// `target/screenshots`.
pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("CARDSTATION_SCREENSHOTS").map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap_or_default();
        exe.ancestors().nth(3).map(|t| t.join("screenshots")).unwrap_or_else(|| PathBuf::from("screenshots"))
    })
}

struct Display {
    name: String,
    _xvfb: Option<(Child, std::process::ChildStdout)>,
}

/// The display every window of this process uses (an Xvfb of its own
/// unless `DISPLAY` names one), for other programs to share.
pub fn display_name() -> Result<&'static str> {
    display()
}

/// The display every window of this process uses.
fn display() -> Result<&'static str> {
    static DISPLAY: OnceLock<std::result::Result<Display, String>> = OnceLock::new();
    let d = DISPLAY.get_or_init(|| start_display().map_err(|e| format!("{e:#}")));
    match d {
        Ok(d) => Ok(&d.name),
        Err(e) => bail!("no display for the window tests: {e}"),
    }
}

fn start_display() -> Result<Display> {
    if let Ok(name) = std::env::var("DISPLAY") {
        if !name.is_empty() {
            return Ok(Display { name, _xvfb: None });
        }
    }
    // A display number of our own: the lowest free from 90, by its lock file.
    for n in 90..140 {
        if Path::new(&format!("/tmp/.X{n}-lock")).exists() {
            continue;
        }
        let name = format!(":{n}");
        let child = Command::new("Xvfb")
            .args([&name, "-screen", "0", "1280x800x24", "-nolisten", "tcp", "-displayfd", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting Xvfb (scripts/install-deps installs it)")?;
        let mut child = child;
        // -displayfd: Xvfb writes the display number once it accepts clients.
        let mut out = child.stdout.take().context("Xvfb stdout")?;
        let mut buf = [0u8; 16];
        let n_read = std::io::Read::read(&mut out, &mut buf).unwrap_or(0);
        if n_read == 0 {
            let _ = child.kill();
            continue;
        }
        return Ok(Display { name, _xvfb: Some((child, out)) });
    }
    bail!("no free X display number between :90 and :139")
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The app's window, driven over WebDriver; the app and its driver end on drop.
pub struct AppWindow {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
    runtime: tokio::runtime::Runtime,
    name: String,
}

impl std::fmt::Debug for AppWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppWindow").field("name", &self.name).finish_non_exhaustive()
    }
}

impl AppWindow {
    /// Starts the app on the station in `data` (idle lock `idle_lock_seconds`)
    /// and waits for its first screen. `name` prefixes its screenshots.
    pub fn open(name: &str, data: &Path, idle_lock_seconds: u32) -> Result<AppWindow> {
        AppWindow::start(name, data, idle_lock_seconds, false)
    }

    /// Starts the app in kiosk mode (`CARDSTATION_KIOSK=1`) on the station
    /// in `data`, and waits for the kiosk's sign-in.
    pub fn open_kiosk(name: &str, data: &Path) -> Result<AppWindow> {
        AppWindow::start(name, data, 300, true)
    }

    fn start(name: &str, data: &Path, idle_lock_seconds: u32, kiosk: bool) -> Result<AppWindow> {
        let display = display()?;
        let (port, native) = (free_port()?, free_port()?);
        // A process group of its own: WebKitWebDriver and the app it starts
        // end with it (see Drop).
        let driver = std::os::unix::process::CommandExt::process_group(&mut Command::new("tauri-driver"), 0)
            .args(["--port", &port.to_string(), "--native-port", &native.to_string()])
            .env("DISPLAY", display)
            .env("CARDSTATION_DATA", data)
            .env("CARDSTATION_IDLE_LOCK_SECONDS", idle_lock_seconds.to_string())
            .env("CARDSTATION_KIOSK", if kiosk { "1" } else { "0" })
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting tauri-driver (scripts/install-deps installs it)")?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let url = format!("http://127.0.0.1:{port}");
        let application = app_bin();
        let client = runtime.block_on(async {
            let mut caps = serde_json::Map::new();
            caps.insert("tauri:options".into(), json!({ "application": application }));
            caps.insert("browserName".into(), json!("wry"));
            let deadline = Instant::now() + UI_WAIT;
            loop {
                let connector = hyper_util::client::legacy::connect::HttpConnector::new();
                match ClientBuilder::new(connector).capabilities(caps.clone()).connect(&url).await {
                    Ok(c) => return Ok(c),
                    Err(e) if Instant::now() < deadline => {
                        tracing_sleep(&e.to_string()).await;
                    }
                    Err(e) => return Err(anyhow::anyhow!("no WebDriver session with the app: {e}")),
                }
            }
        });
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                let mut driver = driver;
                let _ = driver.kill();
                return Err(e);
            }
        };
        let window = AppWindow { client, driver, runtime, name: name.to_owned() };
        window.wait_for(if kiosk {
            "[data-testid=kiosk-signin]"
        } else {
            "[data-testid=signin-username], [data-testid=app-shell]"
        })?;
        Ok(window)
    }

    /// Runs `f` against the WebDriver client. A WebDriver call that does
    /// not answer within [`UI_WAIT`] fails the test rather than hanging it.
    pub fn block<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        let timed = self.runtime.block_on(async { tokio::time::timeout(CALL_WAIT, f).await });
        match timed {
            Ok(value) => value,
            Err(_) => panic!("the window's WebDriver did not answer within {CALL_WAIT:?}"),
        }
    }

    /// Waits until an element matches `css`, and returns it.
    pub fn wait_for(&self, css: &str) -> Result<Element> {
        let found = self.block(async {
            self.client
                .wait()
                .at_most(UI_WAIT)
                .for_element(Locator::Css(css))
                .await
                .with_context(|| format!("waiting for {css}"))
        });
        if found.is_err() {
            let _ = self.screenshot("timeout");
        }
        found
    }

    /// Waits until the element `css` shows text containing `text`; returns its text.
    pub fn wait_text(&self, css: &str, text: &str) -> Result<String> {
        let deadline = Instant::now() + UI_WAIT;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(found) = self.block(self.client.find_all(Locator::Css(css))) {
                for e in found {
                    if let Ok(t) = self.block(e.text()) {
                        if t.contains(text) {
                            return Ok(t);
                        }
                        last = t;
                    }
                }
            }
            self.block(async { tokio::time::sleep(Duration::from_millis(100)).await });
        }
        let _ = self.screenshot("timeout");
        bail!("{css} never showed {text:?} (last: {last:?})")
    }

    /// The attribute `name` of the first element matching `css`. (Read by
    /// a script: this WebKitWebDriver never answers Get Element Attribute.)
    pub fn attr(&self, css: &str, name: &str) -> Result<Option<String>> {
        self.wait_for(css)?;
        let script =
            "const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;";
        let value = self.block(self.client.execute(script, vec![json!(css), json!(name)]))?;
        Ok(value.as_str().map(str::to_owned))
    }

    /// Clicks the element `css` (waiting for it).
    pub fn click(&self, css: &str) -> Result<()> {
        let e = self.wait_for(css)?;
        self.block(e.click()).with_context(|| format!("clicking {css}"))
    }

    /// Types `text` into the element `css` (waiting for it).
    pub fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let e = self.wait_for(css)?;
        // Emptied by a script (this WebKitWebDriver never answers Element Clear).
        let empty = "const e = document.querySelector(arguments[0]); e.value = ''; \
                     e.dispatchEvent(new Event('input', { bubbles: true }));";
        self.block(self.client.execute(empty, vec![json!(css)]))?;
        self.block(e.send_keys(text)).with_context(|| format!("typing into {css}"))
    }

    /// Presses a key (WebDriver key code, e.g. `"\u{E007}"` for Enter) in the focused element.
    pub fn press(&self, key: &str) -> Result<()> {
        let active = self.block(self.client.active_element())?;
        self.block(active.send_keys(key))?;
        Ok(())
    }

    /// Signs in through the sign-in screen.
    pub fn sign_in(&self, username: &str, password: &str) -> Result<()> {
        self.type_into("[data-testid=signin-username]", username)?;
        self.type_into("[data-testid=signin-password]", password)?;
        self.click("[data-testid=signin-submit]")
    }

    /// Calls a command over IPC as the window's own script would (a
    /// compromised or curious UI): the answer, or the error it was refused with.
    pub fn invoke(&self, command: &str, args: Value) -> Result<Value> {
        let script = r#"
            const [command, args, done] = arguments;
            window.__TAURI_INTERNALS__.invoke(command, args)
              .then((data) => done({ ok: data === undefined ? null : data }))
              .catch((error) => done({ error }));
        "#;
        Ok(self.block(self.client.execute_async(script, vec![json!(command), args]))?)
    }

    /// Saves a screenshot of the display as `<screenshot dir>/<name>-<what>.png`
    /// (ImageMagick's `import`: this WebKitWebDriver's own screenshot stalls
    /// once the page has changed).
    pub fn screenshot(&self, what: &str) -> Result<PathBuf> {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}-{what}.png", self.name));
        let shot = Command::new("import")
            .args(["-display", display()?, "-window", "root"])
            .arg(&path)
            .output()
            .context("running ImageMagick's import")?;
        if !shot.status.success() {
            bail!("import failed: {}", String::from_utf8_lossy(&shot.stderr));
        }
        Ok(path)
    }
}

impl Drop for AppWindow {
    fn drop(&mut self) {
        let client = self.client.clone();
        let _ = self.runtime.block_on(client.close());
        // The driver's whole group: tauri-driver, WebKitWebDriver, the app.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

async fn tracing_sleep(_why: &str) {
    tokio::time::sleep(Duration::from_millis(200)).await;
}
