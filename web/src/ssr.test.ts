// @vitest-environment node
// Server rendering: no window, no document. Everything is safe to import and call.
import { describe, expect, it } from "vitest";

import { chatKitScriptStatus, getPageContext, loadChatKitScript, readSelection, watchSelection } from "./index.js";

describe("without a window (server rendering)", () => {
  it("getPageContext returns nothing", () => {
    expect(typeof window).toBe("undefined");
    expect(getPageContext()).toBeUndefined();
  });

  it("the selection is empty and watching it is a no-op", () => {
    expect(readSelection()).toBeNull();
    const stop = watchSelection(() => {
      throw new Error("never called");
    });
    stop();
  });

  it("the script is pending and loading it is refused", async () => {
    expect(chatKitScriptStatus()).toBe("pending");
    await expect(loadChatKitScript()).rejects.toMatchObject({ reason: "no-dom" });
  });
});
