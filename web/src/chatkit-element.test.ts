import { afterEach, describe, expect, it } from "vitest";

import { ChatKitNotMountedError, whenChatKitMounted } from "./chatkit-element.js";

// each test defines its own element name: a name can be defined only once per window
let names = 0;
function elementName() {
  return `chatkit-probe-${++names}`;
}
class Probe extends HTMLElement {
  sendUserMessage() {}
}

afterEach(() => {
  document.body.innerHTML = "";
});

describe("whenChatKitMounted", () => {
  it("resolves at once with an element already mounted", async () => {
    const name = elementName();
    customElements.define(name, class extends Probe {});
    const element = document.createElement(name);
    document.body.append(element);
    expect(await whenChatKitMounted({ current: element }, { element: name })).toBe(element);
  });

  it("waits for the ref to be set and the element to be upgraded", async () => {
    const name = elementName();
    const ref: { current: HTMLElement | null } = { current: null };
    let settled = false;
    const mounted = whenChatKitMounted(ref, { element: name, timeoutMs: 10_000 }).finally(() => (settled = true));

    // rendered, but the script has not defined the element yet
    const element = document.createElement(name);
    document.body.append(element);
    ref.current = element;
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(settled).toBe(false);

    customElements.define(name, class extends Probe {});
    expect(await mounted).toBe(element);
  });

  it("notices the element React inserts (a DOM change)", async () => {
    const name = elementName();
    customElements.define(name, class extends Probe {});
    const ref: { current: HTMLElement | null } = { current: null };
    const mounted = whenChatKitMounted(ref, { element: name, timeoutMs: 10_000 });
    const element = document.createElement(name);
    ref.current = element;
    document.body.append(element);
    expect(await mounted).toBe(element);
  });

  it("rejects when nothing is mounted in time, and when aborted", async () => {
    const name = elementName();
    const timedOut = whenChatKitMounted({ current: null }, { element: name, timeoutMs: 20 });
    await expect(timedOut).rejects.toBeInstanceOf(ChatKitNotMountedError);
    await expect(timedOut).rejects.toThrow(`<${name}> was not mounted within 20 ms`);

    const controller = new AbortController();
    const aborted = whenChatKitMounted({ current: null }, { element: name, signal: controller.signal });
    controller.abort(new Error("gone"));
    await expect(aborted).rejects.toThrow("gone");
  });
});
