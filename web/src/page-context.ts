/**
 * What page the user is on, for the model: `getPageContext()` reads it from the DOM, bounded
 * field by field. The server puts it in the model input as untrusted page data
 * (`metadata.pageContext`).
 */
import { cleanText, clip } from "./text.js";

/** The page the chat is embedded in, as sent in `metadata.pageContext`. */
export interface PageContext {
  /** `location.href` without the `#fragment` (fragments often carry OAuth tokens). */
  url: string;
  title?: string;
  path: string;
  /** `<meta name="description">`. */
  description?: string;
  /** The first h1–h3 texts of `article`, else `main`, else `body`, in document order. */
  headings?: string[];
  /** The current text selection, if any. */
  selectedText?: string;
  /** `<html lang>`. */
  lang?: string;
  /** When the context was read (ISO 8601). */
  timestamp: string;
}

/** Bounds of each field. */
export interface PageContextLimits {
  /** Longest url (default 2048). */
  maxUrlLength: number;
  /** Longest title, description, heading or lang (default 300). */
  maxFieldLength: number;
  /** Most headings (default 12). */
  maxHeadings: number;
  /** Longest selection; a longer one is clipped (default 2000). */
  maxSelectionLength: number;
}

export const DEFAULT_PAGE_CONTEXT_LIMITS: Readonly<PageContextLimits> = Object.freeze({
  maxUrlLength: 2048,
  maxFieldLength: 300,
  maxHeadings: 12,
  maxSelectionLength: 2000,
});

export interface PageContextOptions extends Partial<PageContextLimits> {
  /** Where headings are read from (default: `article`, else `main`, else `body`). */
  root?: ParentNode;
  /** Include the current text selection (default true). */
  includeSelection?: boolean;
}

function limitsOf(options: Partial<PageContextLimits> = {}): PageContextLimits {
  return {
    maxUrlLength: options.maxUrlLength ?? DEFAULT_PAGE_CONTEXT_LIMITS.maxUrlLength,
    maxFieldLength: options.maxFieldLength ?? DEFAULT_PAGE_CONTEXT_LIMITS.maxFieldLength,
    maxHeadings: options.maxHeadings ?? DEFAULT_PAGE_CONTEXT_LIMITS.maxHeadings,
    maxSelectionLength: options.maxSelectionLength ?? DEFAULT_PAGE_CONTEXT_LIMITS.maxSelectionLength,
  };
}

function withoutFragment(href: string): string {
  const hash = href.indexOf("#");
  return hash === -1 ? href : href.slice(0, hash);
}

/**
 * The current page: url, title, path, meta description, the first headings, the selection,
 * `lang` and a timestamp, each trimmed to its bound. `undefined` where there is no `window`
 * (server rendering), so it is safe to call anywhere.
 */
export function getPageContext(options: PageContextOptions = {}): PageContext | undefined {
  if (typeof window === "undefined" || typeof document === "undefined") return undefined;
  const limits = limitsOf(options);
  const doc = document;
  const root: ParentNode | null = options.root ?? doc.querySelector("article") ?? doc.querySelector("main") ?? doc.body;
  const headings: string[] = [];
  if (root && limits.maxHeadings > 0) {
    for (const heading of Array.from(root.querySelectorAll("h1, h2, h3"))) {
      const text = cleanText(heading.textContent, limits.maxFieldLength);
      if (text) headings.push(text);
      if (headings.length >= limits.maxHeadings) break;
    }
  }
  const description = doc.querySelector('meta[name="description"]')?.getAttribute("content");
  const selection = options.includeSelection === false ? undefined : window.getSelection?.()?.toString();
  return boundPageContext(
    {
      url: withoutFragment(window.location.href),
      title: doc.title,
      path: window.location.pathname,
      description: description ?? undefined,
      headings,
      selectedText: selection,
      lang: doc.documentElement.lang,
      timestamp: new Date().toISOString(),
    },
    limits,
  );
}

/**
 * Applies the bounds to a page context from anywhere (an app's own `pageContext` function
 * included): strings trimmed and clipped, headings capped, empty fields dropped.
 */
export function boundPageContext(context: PageContext, options: Partial<PageContextLimits> = {}): PageContext {
  const limits = limitsOf(options);
  const url = typeof context.url === "string" ? clip(context.url.trim(), limits.maxUrlLength) : "";
  const path = typeof context.path === "string" ? clip(context.path.trim(), limits.maxUrlLength) : "";
  const out: PageContext = {
    url,
    path,
    timestamp: typeof context.timestamp === "string" ? clip(context.timestamp, 40) : new Date().toISOString(),
  };
  const title = cleanText(context.title, limits.maxFieldLength);
  if (title) out.title = title;
  const description = cleanText(context.description, limits.maxFieldLength);
  if (description) out.description = description;
  if (Array.isArray(context.headings)) {
    const headings = context.headings
      .map((h) => cleanText(h, limits.maxFieldLength))
      .filter((h): h is string => h !== undefined)
      .slice(0, limits.maxHeadings);
    if (headings.length > 0) out.headings = headings;
  }
  const selectedText = cleanText(context.selectedText, limits.maxSelectionLength);
  if (selectedText) out.selectedText = selectedText;
  const lang = cleanText(context.lang, 35);
  if (lang) out.lang = lang;
  return out;
}
