import { mount } from "svelte";
import "./app.css";
import App from "./App.svelte";

const target = document.getElementById("app");
if (target === null) throw new Error("#app missing from index.html");

// `npm run dev` in a plain browser: answer IPC with the stand-in backend. Never in a build.
if (import.meta.env.DEV && !("__TAURI_INTERNALS__" in window)) {
  const { installFakeBackend } = await import("./dev/fake-backend");
  // `?kiosk` in the address: the walk-up kiosk (as `cardstation-app --kiosk`).
  const fake = installFakeBackend({ delayMs: 350, kiosk: new URLSearchParams(location.search).has("kiosk") });
  (window as unknown as { fake: unknown }).fake = fake;
}

export default mount(App, { target });
