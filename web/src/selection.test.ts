import { afterEach, describe, expect, it, vi } from "vitest";

import { askAboutSelectionMessage, clearSelection, readSelection, watchSelection } from "./selection.js";

function select(node: Node) {
  window.getSelection()!.selectAllChildren(node);
  document.dispatchEvent(new Event("selectionchange"));
}

afterEach(() => {
  window.getSelection()?.removeAllRanges();
  document.body.innerHTML = "";
});

describe("readSelection", () => {
  it("reads the selected text, whitespace collapsed", () => {
    document.body.innerHTML = "<p id=p>Lambda   response\n streaming</p>";
    select(document.getElementById("p")!);
    expect(readSelection()?.text).toBe("Lambda response streaming");
  });

  it("ignores no selection, a too short one and a too long one", () => {
    expect(readSelection()).toBeNull();
    document.body.innerHTML = `<p id=short>a</p><p id=long>${"x".repeat(2001)}</p><p id=ok>${"y".repeat(2000)}</p>`;
    select(document.getElementById("short")!);
    expect(readSelection()).toBeNull();
    select(document.getElementById("long")!);
    expect(readSelection()).toBeNull();
    expect(readSelection({ maxLength: 5000 })?.text).toHaveLength(2001);
    select(document.getElementById("ok")!);
    expect(readSelection()?.text).toHaveLength(2000);
  });

  it("ignores selections in editable fields and opted-out regions", () => {
    document.body.innerHTML = `<div contenteditable="true"><p id=e>editable text</p></div>
      <div data-chatkit-ask-ignore><p id=i>ignored text</p></div><p id=n>normal text</p>`;
    select(document.getElementById("e")!);
    expect(readSelection()).toBeNull();
    select(document.getElementById("i")!);
    expect(readSelection()).toBeNull();
    select(document.getElementById("n")!);
    expect(readSelection()?.text).toBe("normal text");
    expect(readSelection({ ignore: "#n" })).toBeNull();
  });
});

describe("watchSelection", () => {
  it("reports changes on selectionchange and mouseup, and stops when told", () => {
    document.body.innerHTML = "<p id=a>first paragraph</p><p id=b>second paragraph</p>";
    const seen: (string | null)[] = [];
    const stop = watchSelection((s) => seen.push(s?.text ?? null));
    select(document.getElementById("a")!);
    document.dispatchEvent(new Event("mouseup"));
    select(document.getElementById("b")!);
    clearSelection();
    document.dispatchEvent(new Event("selectionchange"));
    stop();
    select(document.getElementById("a")!);
    expect(seen).toEqual(["first paragraph", "second paragraph", null]);
  });

  it("reports a selection that exists when watching starts", () => {
    document.body.innerHTML = "<p id=a>already selected</p>";
    select(document.getElementById("a")!);
    const onChange = vi.fn();
    watchSelection(onChange)();
    expect(onChange).toHaveBeenCalledWith(expect.objectContaining({ text: "already selected" }));
  });
});

describe("askAboutSelectionMessage", () => {
  it("quotes the page title and the selection", () => {
    expect(askAboutSelectionMessage("  cold   starts ", "Lambda  guide")).toBe(
      'Can you explain this from "Lambda guide": "cold starts"',
    );
    expect(askAboutSelectionMessage("x y", "")).toBe('Can you explain this from "this page": "x y"');
  });
});
