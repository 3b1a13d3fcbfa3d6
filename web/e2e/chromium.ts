// Headless Chromium for the browser tests, driven by playwright-core. The browser is the
// machine's (make web-e2e installs Debian's `chromium` when it is missing, or set
// CHROMIUM_PATH); playwright-core never downloads one.
import { existsSync } from "node:fs";

import { chromium, type Browser } from "playwright-core";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"];

export function chromiumPath(): string {
  const path = process.env.CHROMIUM_PATH ?? CANDIDATES.find((p) => existsSync(p));
  if (!path || !existsSync(path)) {
    throw new Error("no Chromium found: install Debian's `chromium` (scripts/ensure-chromium.sh does) or set CHROMIUM_PATH");
  }
  return path;
}

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
