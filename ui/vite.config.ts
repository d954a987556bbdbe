/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// Tauri serves `dist/` from its own protocol; the dev server is only for `tauri dev`.
export default defineConfig({
  plugins: [svelte()],
  // DOM tests mount components: use Svelte's browser build there.
  resolve: process.env["VITEST"] ? { conditions: ["browser"] } : {},
  clearScreen: false,
  server: {
    port: 1420,
    strictPort: true,
    host: "127.0.0.1",
  },
  envPrefix: ["VITE_", "TAURI_ENV_"],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // WebView2 (Chromium), WebKitGTK and WKWebView of the supported platforms.
    target: ["es2022", "chrome105", "safari15"],
    // No inline polyfill script: the CSP allows scripts from 'self' only.
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
    sourcemap: false,
    // Never inline assets as data: URLs (CSP default-src 'self').
    assetsInlineLimit: 0,
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
