import { defineConfig } from "vitest/config";

// Browser tests: headless Chromium (playwright-core) against the real functions (`turns` and
// `threads`), DynamoDB Local, a model stub, the demo page and the built Next.js example. One file at a time; the servers
// are started once (e2e/global-setup.ts). Run through `make web-e2e`.
export default defineConfig({
  test: {
    include: ["e2e/**/*.e2e.ts"],
    environment: "node",
    globalSetup: ["e2e/global-setup.ts"],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
