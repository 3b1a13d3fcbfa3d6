import { afterEach, describe, expect, it } from "vitest";

import { ChatKitScriptError, chatKitScriptStatus, CHATKIT_SCRIPT_URL, loadChatKitScript } from "./script.js";

let n = 0;
/** A fresh element name and script URL per test (the custom element registry is global). */
function fresh() {
  n += 1;
  return { element: `test-chatkit-${n}`, src: `https://cdn.test/chatkit-${n}.js` };
}
const scripts = (src: string) => Array.from(document.querySelectorAll<HTMLScriptElement>("script")).filter((s) => s.src === src || s.dataset.chatkitScript === src);

afterEach(() => {
  document.head.innerHTML = "";
});

describe("loadChatKitScript", () => {
  it("defaults to OpenAI's CDN", () => {
    expect(CHATKIT_SCRIPT_URL).toBe("https://cdn.platform.openai.com/deployments/chatkit/chatkit.js");
  });

  it("resolves at once when the element is defined, inserting nothing", async () => {
    const { element, src } = fresh();
    customElements.define(element, class extends HTMLElement {});
    expect(chatKitScriptStatus(element)).toBe("ready");
    await loadChatKitScript({ element, src });
    expect(scripts(src)).toHaveLength(0);
  });

  it("inserts one async script and resolves when the element is defined", async () => {
    const { element, src } = fresh();
    const loading = loadChatKitScript({ element, src });
    const again = loadChatKitScript({ element, src });
    expect(scripts(src)).toHaveLength(1);
    expect(scripts(src)[0]!.async).toBe(true);
    expect(chatKitScriptStatus(element)).toBe("pending");
    customElements.define(element, class extends HTMLElement {});
    await expect(loading).resolves.toBeUndefined();
    await expect(again).resolves.toBeUndefined();
  });

  it("uses a script tag already on the page (Next.js beforeInteractive)", async () => {
    const { element, src } = fresh();
    const tag = document.createElement("script");
    tag.src = src;
    document.head.appendChild(tag);
    const loading = loadChatKitScript({ element, src });
    expect(scripts(src)).toEqual([tag]);
    customElements.define(element, class extends HTMLElement {});
    await loading;
  });

  it("rejects on a script error, and at once for a tag that already failed", async () => {
    const { element, src } = fresh();
    const loading = loadChatKitScript({ element, src, timeoutMs: 10_000 });
    scripts(src)[0]!.dispatchEvent(new Event("error"));
    const error = await loading.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChatKitScriptError);
    expect((error as ChatKitScriptError).reason).toBe("script-error");
    expect((error as Error).message).toContain(src);
    await expect(loadChatKitScript({ element, src, timeoutMs: 10_000 })).rejects.toMatchObject({ reason: "script-error" });
  });

  it("reload replaces a failed tag with a fresh one", async () => {
    const { element, src } = fresh();
    const first = loadChatKitScript({ element, src });
    const failed = scripts(src)[0]!;
    failed.dispatchEvent(new Event("error"));
    await first.catch(() => {});
    const retry = loadChatKitScript({ element, src, reload: true });
    expect(scripts(src)).toHaveLength(1);
    expect(scripts(src)[0]).not.toBe(failed);
    // a fresh URL, so the browser cannot hand the retry to a request still hanging
    expect(scripts(src)[0]!.src).toMatch(new RegExp(`^${src}\\?chatkit_retry=\\d+$`));
    // a later call finds the retried tag instead of adding another
    const again = loadChatKitScript({ element, src });
    expect(scripts(src)).toHaveLength(1);
    customElements.define(element, class extends HTMLElement {});
    await retry;
    await again;
  });

  it("times out when the element never gets defined", async () => {
    const { element, src } = fresh();
    const started = Date.now();
    const error = await loadChatKitScript({ element, src, timeoutMs: 50 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChatKitScriptError);
    expect((error as ChatKitScriptError).reason).toBe("timeout");
    expect((error as Error).message).toContain(`<${element}> was not defined within 50 ms`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it("stops waiting when aborted", async () => {
    const { element, src } = fresh();
    const controller = new AbortController();
    const loading = loadChatKitScript({ element, src, signal: controller.signal });
    controller.abort(new Error("unmounted"));
    await expect(loading).rejects.toThrow("unmounted");
  });
});
