/**
 * Text selection on the page, for "Ask about this": `watchSelection` reports the selected
 * text and where it is; `askAboutSelectionMessage` is the message the Ask button sends.
 */
import { collapseWhitespace } from "./text.js";

/** A usable selection: its text and its box in viewport coordinates. */
export interface SelectionSnapshot {
  text: string;
  rect: { top: number; left: number; bottom: number; right: number; width: number; height: number } | null;
}

export interface SelectionOptions {
  /** Shortest selection worth asking about, in characters after trimming (default 2). */
  minLength?: number;
  /** Longer selections are ignored (default 2000). */
  maxLength?: number;
  /** Selections inside elements matching this selector are ignored (default: editable fields and `[data-chatkit-ask-ignore]`). */
  ignore?: string;
}

export const DEFAULT_SELECTION_MAX_LENGTH = 2000;
const DEFAULT_IGNORE = 'input, textarea, select, [contenteditable=""], [contenteditable="true"], [data-chatkit-ask-ignore]';

function elementOf(node: Node | null): Element | null {
  if (!node) return null;
  return node.nodeType === 1 ? (node as Element) : node.parentElement;
}

/** The current selection if it is worth asking about, else `null` (none, empty, too long, ignored). */
export function readSelection(options: SelectionOptions = {}): SelectionSnapshot | null {
  if (typeof window === "undefined" || typeof window.getSelection !== "function") return null;
  const selection = window.getSelection();
  if (!selection || selection.isCollapsed || selection.rangeCount === 0) return null;
  const text = collapseWhitespace(selection.toString());
  if (text.length < (options.minLength ?? 2)) return null;
  if (text.length > (options.maxLength ?? DEFAULT_SELECTION_MAX_LENGTH)) return null;
  const ignore = options.ignore ?? DEFAULT_IGNORE;
  for (const node of [selection.anchorNode, selection.focusNode]) {
    if (elementOf(node)?.closest(ignore)) return null;
  }
  const range = selection.getRangeAt(0);
  const box = typeof range.getBoundingClientRect === "function" ? range.getBoundingClientRect() : null;
  const rect =
    box && (box.width > 0 || box.height > 0)
      ? { top: box.top, left: box.left, bottom: box.bottom, right: box.right, width: box.width, height: box.height }
      : null;
  return { text, rect };
}

function same(a: SelectionSnapshot | null, b: SelectionSnapshot | null): boolean {
  if (a === null || b === null) return a === b;
  return (
    a.text === b.text &&
    a.rect?.top === b.rect?.top &&
    a.rect?.left === b.rect?.left &&
    a.rect?.width === b.rect?.width &&
    a.rect?.height === b.rect?.height
  );
}

/**
 * Calls `onChange` whenever the usable selection changes (`selectionchange` and `mouseup`),
 * with `null` when there is none. Returns the function that stops watching.
 */
export function watchSelection(onChange: (selection: SelectionSnapshot | null) => void, options: SelectionOptions = {}): () => void {
  if (typeof document === "undefined") return () => {};
  let last: SelectionSnapshot | null = null;
  const check = () => {
    const next = readSelection(options);
    if (!same(last, next)) {
      last = next;
      onChange(next);
    }
  };
  document.addEventListener("selectionchange", check);
  document.addEventListener("mouseup", check);
  check();
  return () => {
    document.removeEventListener("selectionchange", check);
    document.removeEventListener("mouseup", check);
  };
}

/** The message the Ask button sends: `Can you explain this from "<page title>": "<selection>"`. */
export function askAboutSelectionMessage(selection: string, pageTitle: string): string {
  const title = collapseWhitespace(pageTitle) || "this page";
  return `Can you explain this from "${title}": "${collapseWhitespace(selection)}"`;
}

/** Clears the page's selection (after asking). */
export function clearSelection(): void {
  if (typeof window !== "undefined") window.getSelection?.()?.removeAllRanges();
}
