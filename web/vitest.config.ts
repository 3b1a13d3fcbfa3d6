import { defineConfig } from "vitest/config";

// Unit tests beside the code: DOM modules in happy-dom (which never fetches a script: script
// tags "load" without a request, so tests drive load, error and definition themselves), the
// Next.js route and the server-rendering checks in Node (`// @vitest-environment node`).
export default defineConfig({
  test: {
    include: ["src/**/*.test.{ts,tsx}"],
    environment: "happy-dom",
    environmentOptions: {
      happyDOM: {
        settings: {
          disableJavaScriptFileLoading: true,
          handleDisabledFileLoadingAsSuccess: true,
          disableCSSFileLoading: true,
        },
      },
    },
  },
});
