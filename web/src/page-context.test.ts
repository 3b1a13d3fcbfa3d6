import { afterEach, describe, expect, it } from "vitest";

import { boundPageContext, getPageContext } from "./page-context.js";

function page(html: string, { title = "Docs – Widgets", lang = "en-GB", description = "All about widgets." } = {}) {
  document.head.innerHTML = `<meta name="description" content="${description}">`;
  document.title = title;
  document.documentElement.lang = lang;
  document.body.innerHTML = html;
}

afterEach(() => {
  window.getSelection()?.removeAllRanges();
  history.replaceState(null, "", "/");
});

describe("getPageContext", () => {
  it("reads url, title, path, description, headings, selection, lang and a timestamp", () => {
    history.replaceState(null, "", "/docs/widgets?tab=api#access_token=secret");
    page(`<nav><h1>Site nav</h1></nav>
      <article><h1>Widgets</h1><p id="p">Widgets   are
      small.</p><h2> Install </h2><h4>deep</h4><h3>Use</h3></article>`);
    const range = document.createRange();
    range.selectNodeContents(document.getElementById("p")!);
    window.getSelection()!.addRange(range);
    const before = Date.now();
    const context = getPageContext()!;
    expect(context.url).toBe(`${location.origin}/docs/widgets?tab=api`);
    expect(context.url).not.toContain("secret");
    expect(context.path).toBe("/docs/widgets");
    expect(context.title).toBe("Docs – Widgets");
    expect(context.description).toBe("All about widgets.");
    expect(context.headings).toEqual(["Widgets", "Install", "Use"]);
    expect(context.selectedText).toBe("Widgets are small.");
    expect(context.lang).toBe("en-GB");
    expect(Date.parse(context.timestamp)).toBeGreaterThanOrEqual(before - 1000);
  });

  it("falls back from article to main to body", () => {
    page("<header><h1>Header</h1></header><main><h2>Main heading</h2></main>");
    expect(getPageContext()!.headings).toEqual(["Main heading"]);
    page("<div><h3>Body heading</h3></div>");
    expect(getPageContext()!.headings).toEqual(["Body heading"]);
  });

  it("takes an explicit root and leaves out the selection when asked", () => {
    page('<main><h1>Main</h1></main><aside id="a"><h2>Aside</h2></aside>');
    const context = getPageContext({ root: document.getElementById("a")!, includeSelection: false })!;
    expect(context.headings).toEqual(["Aside"]);
    expect(context.selectedText).toBeUndefined();
  });

  it("trims every field to its bound", () => {
    const long = "word ".repeat(1000);
    page(`<main>${Array.from({ length: 40 }, (_, i) => `<h2>${i} ${long}</h2>`).join("")}</main>`, {
      title: long,
      description: long,
      lang: "x".repeat(100),
    });
    const context = getPageContext({ maxHeadings: 5, maxFieldLength: 80 })!;
    expect(context.title!.length).toBe(80);
    expect(context.title!.endsWith("…")).toBe(true);
    expect(context.description!.length).toBe(80);
    expect(context.headings).toHaveLength(5);
    expect(context.headings!.every((h) => h.length <= 80)).toBe(true);
    expect(context.lang!.length).toBeLessThanOrEqual(35);
  });

  it("drops empty fields", () => {
    page("<main><h1>   </h1></main>", { title: "  ", description: "", lang: "" });
    const context = getPageContext()!;
    expect(context.title).toBeUndefined();
    expect(context.description).toBeUndefined();
    expect(context.headings).toBeUndefined();
    expect(context.lang).toBeUndefined();
    expect(context.selectedText).toBeUndefined();
  });
});

describe("boundPageContext", () => {
  it("never splits a character and caps the selection", () => {
    const context = boundPageContext(
      { url: "https://a.test/", path: "/", selectedText: "😀".repeat(3000), timestamp: "t" },
      { maxSelectionLength: 10 },
    );
    expect(Array.from(context.selectedText!)).toHaveLength(10);
    expect(context.selectedText!.startsWith("😀".repeat(9))).toBe(true);
  });

  it("ignores fields of the wrong type", () => {
    const context = boundPageContext({ url: 42, path: null, title: {}, headings: "nope", timestamp: 1 } as never);
    expect(context.url).toBe("");
    expect(context.path).toBe("");
    expect(context.title).toBeUndefined();
    expect(context.headings).toBeUndefined();
    expect(typeof context.timestamp).toBe("string");
  });
});
