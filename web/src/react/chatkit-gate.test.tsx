import { afterEach, describe, expect, it } from "vitest";

import { ChatKitGate } from "./chatkit-gate.js";
import { render, settle } from "./test-utils.js";

let n = 0;
function fresh() {
  n += 1;
  return { element: `gate-chatkit-${n}`, src: `https://cdn.test/gate-${n}.js` };
}
const tags = (src: string) => Array.from(document.querySelectorAll<HTMLScriptElement>("script")).filter((s) => s.src === src || s.dataset.chatkitScript === src);
const state = (container: HTMLElement) => container.querySelector("[data-chatkit-gate-state]")?.getAttribute("data-chatkit-gate-state");

afterEach(() => {
  document.head.innerHTML = "";
  document.body.innerHTML = "";
});

describe("ChatKitGate", () => {
  it("shows the chat only when the script is ready and the user is signed in", async () => {
    const script = fresh();
    const view = await render(
      <ChatKitGate signedIn={false} script={script} signIn={<a href="/sign-in">Sign in</a>}>
        <div id="chat">chat</div>
      </ChatKitGate>,
    );
    expect(state(view.container)).toBe("signed-out");
    expect(view.container.querySelector("a")?.textContent).toBe("Sign in");
    expect(tags(script.src)).toHaveLength(1);

    await view.rerender(
      <ChatKitGate signedIn script={script}>
        <div id="chat">chat</div>
      </ChatKitGate>,
    );
    expect(state(view.container)).toBe("pending");
    expect(view.container.textContent).toContain("Loading the chat");
    expect(view.container.querySelector("#chat")).toBeNull();

    await settle(() => customElements.define(script.element, class extends HTMLElement {}));
    expect(state(view.container)).toBe("ready");
    expect(view.container.querySelector("#chat")).not.toBeNull();
    await view.unmount();
  });

  it("renders the chat at once when the element is already defined", async () => {
    const script = fresh();
    customElements.define(script.element, class extends HTMLElement {});
    const view = await render(
      <ChatKitGate signedIn script={script}>
        <div id="chat" />
      </ChatKitGate>,
    );
    expect(state(view.container)).toBe("ready");
    expect(tags(script.src)).toHaveLength(0);
    await view.unmount();
  });

  it("shows an error with a retry when the script fails, and the retry loads it again", async () => {
    const script = fresh();
    const view = await render(
      <ChatKitGate signedIn script={script}>
        <div id="chat" />
      </ChatKitGate>,
    );
    const failed = tags(script.src)[0]!;
    await settle(() => failed.dispatchEvent(new Event("error")));
    expect(state(view.container)).toBe("error");
    const alert = view.container.querySelector('[role="alert"]')!;
    expect(alert.textContent).toContain("its script could not be loaded");
    const retry = alert.querySelector("button")!;
    expect(retry.textContent).toBe("Retry");

    await settle(() => retry.click());
    expect(state(view.container)).toBe("pending");
    expect(tags(script.src)).toHaveLength(1);
    expect(tags(script.src)[0]).not.toBe(failed);
    await settle(() => customElements.define(script.element, class extends HTMLElement {}));
    expect(view.container.querySelector("#chat")).not.toBeNull();
    await view.unmount();
  });

  it("shows the error state after the timeout, not a blank box", async () => {
    const script = { ...fresh(), timeoutMs: 30 };
    const view = await render(
      <ChatKitGate
        signedIn
        script={script}
        renderError={(error, retry) => (
          <p role="alert" onClick={retry}>
            custom: {error.reason}
          </p>
        )}
      >
        <div id="chat" />
      </ChatKitGate>,
    );
    await settle(() => new Promise((resolve) => setTimeout(resolve, 60)));
    expect(state(view.container)).toBe("error");
    expect(view.container.textContent).toBe("custom: timeout");
    await view.unmount();
  });
});
