import Script from "next/script";
import { afterEach, describe, expect, it } from "vitest";

import { CHATKIT_SCRIPT_URL, loadChatKitScript } from "../script.js";
import { chatKitLoaderCode, ChatKitScript } from "./script.js";

const tags = (src: string) => Array.from(document.querySelectorAll<HTMLScriptElement>("script")).filter((s) => s.src === src);

afterEach(() => {
  document.head.innerHTML = "";
});

describe("ChatKitScript", () => {
  it("is a next/script with strategy beforeInteractive that loads the CDN script", () => {
    const element = ChatKitScript({ nonce: "n0" });
    expect(element.type).toBe(Script);
    expect(element.props).toMatchObject({ strategy: "beforeInteractive", nonce: "n0", id: "openai-chatkit-loader" });
    expect(element.props.children).toBe(chatKitLoaderCode(CHATKIT_SCRIPT_URL));
    expect(element.props.children).toContain(JSON.stringify(CHATKIT_SCRIPT_URL));
  });

  it("its loader adds one async script to <head>, once", () => {
    const src = "https://cdn.test/loader-once.js";
    new Function(chatKitLoaderCode(src))();
    new Function(chatKitLoaderCode(src))();
    expect(tags(src)).toHaveLength(1);
    expect(tags(src)[0]!.async).toBe(true);
    expect(tags(src)[0]!.parentElement).toBe(document.head);
  });

  it("its loader marks a failed load, so the gate fails at once instead of waiting", async () => {
    const src = "https://cdn.test/loader-fails.js";
    new Function(chatKitLoaderCode(src))();
    tags(src)[0]!.dispatchEvent(new Event("error"));
    const started = Date.now();
    await expect(loadChatKitScript({ src, element: "loader-fails-element", timeoutMs: 5000 })).rejects.toMatchObject({
      reason: "script-error",
    });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("escapes the URL so it cannot close the script", () => {
    expect(chatKitLoaderCode("https://cdn.test/</script><b>")).not.toContain("</script>");
  });
});
