import { afterEach, describe, expect, it, vi } from "vitest";

import { SelectionAskButton, useSelectionAsk } from "./selection-ask.js";
import { render, settle } from "./test-utils.js";

function select(id: string) {
  window.getSelection()!.selectAllChildren(document.getElementById(id)!);
  document.dispatchEvent(new Event("selectionchange"));
}
const button = () => document.querySelector<HTMLButtonElement>("button");

afterEach(() => {
  window.getSelection()?.removeAllRanges();
  document.body.innerHTML = "";
});

describe("SelectionAskButton", () => {
  it("appears over a selection, opens the chat, sends the question and clears the selection", async () => {
    document.title = "Pricing – Acme";
    document.body.innerHTML = '<p id="p">Reserved concurrency costs extra.</p>';
    const calls: string[] = [];
    const onOpen = vi.fn(async () => {
      calls.push("open");
    });
    const sendUserMessage = vi.fn(async (params: { text: string }) => {
      calls.push(`send ${params.text}`);
    });
    const view = await render(<SelectionAskButton isOpen={false} onOpen={onOpen} sendUserMessage={sendUserMessage} />);
    expect(button()).toBeNull();

    await settle(() => select("p"));
    const ask = button()!;
    expect(ask.textContent).toBe("Ask about this");
    expect(ask.type).toBe("button");
    expect(ask.getAttribute("aria-label")).toBe("Ask about this: “Reserved concurrency costs extra.”");
    expect(ask.style.position).toBe("fixed");

    const mousedown = new MouseEvent("mousedown", { bubbles: true, cancelable: true });
    ask.dispatchEvent(mousedown);
    expect(mousedown.defaultPrevented).toBe(true);

    await settle(() => ask.click());
    expect(calls).toEqual(['open', 'send Can you explain this from "Pricing – Acme": "Reserved concurrency costs extra."']);
    expect(window.getSelection()!.toString()).toBe("");
    expect(button()).toBeNull();
    await view.unmount();
  });

  it("does not reopen an open chat and can start a new thread", async () => {
    document.body.innerHTML = '<p id="p">some text</p>';
    const onOpen = vi.fn();
    const sendUserMessage = vi.fn();
    const view = await render(
      <SelectionAskButton isOpen onOpen={onOpen} newThread pageTitle="Custom title" sendUserMessage={sendUserMessage} />,
    );
    await settle(() => select("p"));
    await settle(() => button()!.click());
    expect(onOpen).not.toHaveBeenCalled();
    expect(sendUserMessage).toHaveBeenCalledWith({ text: 'Can you explain this from "Custom title": "some text"', newThread: true });
    await view.unmount();
  });

  it("ignores empty and over-long selections", async () => {
    document.body.innerHTML = `<p id="one">x</p><p id="long">${"word ".repeat(100)}</p>`;
    const view = await render(<SelectionAskButton maxLength={100} sendUserMessage={vi.fn()} />);
    await settle(() => select("one"));
    expect(button()).toBeNull();
    await settle(() => select("long"));
    expect(button()).toBeNull();
    await view.unmount();
  });

  it("Escape hides it; it is focusable", async () => {
    document.body.innerHTML = '<p id="p">keyboard users too</p>';
    const view = await render(<SelectionAskButton sendUserMessage={vi.fn()} label="Ask" />);
    await settle(() => select("p"));
    button()!.focus();
    expect(document.activeElement).toBe(button());
    await settle(() => document.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape" })));
    expect(button()).toBeNull();
    await view.unmount();
  });

  it("keeps the selection and the button when sending fails", async () => {
    document.body.innerHTML = '<p id="p">retry me</p>';
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const view = await render(<SelectionAskButton sendUserMessage={() => Promise.reject(new Error("offline"))} />);
    await settle(() => select("p"));
    await settle(() => button()!.click());
    expect(error).toHaveBeenCalled();
    expect(button()).not.toBeNull();
    expect(button()!.disabled).toBe(false);
    error.mockRestore();
    await view.unmount();
  });
});

describe("SelectionAskButton with useChatKit's handle", () => {
  const sent: unknown[] = [];
  class StandIn extends HTMLElement {
    async sendUserMessage(params: unknown) {
      sent.push(params);
    }
  }

  it("a question asked before the chat is mounted waits for it, then is sent", async () => {
    document.title = "Pricing – Acme";
    document.body.innerHTML = '<p id="p">Asked early.</p>';
    const ref: { current: StandIn | null } = { current: null };
    const onOpen = vi.fn();
    const view = await render(<SelectionAskButton chatkit={{ ref }} isOpen={false} onOpen={onOpen} />);
    await settle(() => select("p"));
    await settle(() => button()!.click());
    // the chat is opening, its script still loading: nothing sent, nothing dropped
    expect(onOpen).toHaveBeenCalledTimes(1);
    expect(sent).toEqual([]);
    expect(button()!.disabled).toBe(true);
    expect(window.getSelection()!.toString()).toBe("Asked early.");

    // the script defines the element and React renders it
    customElements.define("openai-chatkit", StandIn);
    const element = document.createElement("openai-chatkit") as StandIn;
    await settle(() => {
      ref.current = element;
      document.body.append(element);
    });
    await vi.waitFor(() => expect(sent).toEqual([{ text: 'Can you explain this from "Pricing – Acme": "Asked early."' }]));
    await vi.waitFor(() => expect(button()).toBeNull());
    expect(window.getSelection()!.toString()).toBe("");
    await view.unmount();
  });

  it("keeps the selection and the button when the chat never mounts", async () => {
    document.body.innerHTML = '<p id="p">never mounted</p>';
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const view = await render(<SelectionAskButton chatkit={{ ref: { current: null } }} mountTimeoutMs={20} />);
    await settle(() => select("p"));
    await settle(() => button()!.click());
    await vi.waitFor(() => expect(error).toHaveBeenCalledWith("chatkit: could not send the question", expect.anything()));
    await settle();
    expect(button()!.disabled).toBe(false);
    expect(window.getSelection()!.toString()).toBe("never mounted");
    error.mockRestore();
    await view.unmount();
  });
});

describe("useSelectionAsk", () => {
  it("stops watching when disabled", async () => {
    document.body.innerHTML = '<p id="p">watched text</p>';
    let seen: string | null | undefined;
    function Probe({ enabled }: { enabled: boolean }) {
      const { selection } = useSelectionAsk({ enabled, sendUserMessage: vi.fn() });
      seen = selection?.text ?? null;
      return null;
    }
    const view = await render(<Probe enabled />);
    await settle(() => select("p"));
    expect(seen).toBe("watched text");
    await view.rerender(<Probe enabled={false} />);
    expect(seen).toBeNull();
    await settle(() => select("p"));
    expect(seen).toBeNull();
    await view.unmount();
  });
});
