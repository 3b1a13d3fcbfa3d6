/**
 * Small text helpers shared by the kit: every string that leaves the page goes through
 * `clip`, so no field can grow a request beyond its bound.
 */

/** Collapses runs of whitespace to one space and trims. */
export function collapseWhitespace(value: string): string {
  return value.replace(/\s+/g, " ").trim();
}

/**
 * At most `max` characters (code points, so a surrogate pair is never split). A clipped value
 * ends with "…", which counts toward `max`.
 */
export function clip(value: string, max: number): string {
  if (max <= 0) return "";
  if (value.length <= max) return value;
  const chars = Array.from(value);
  if (chars.length <= max) return value;
  return chars.slice(0, max - 1).join("") + "…";
}

/** A trimmed, whitespace-collapsed, clipped string, or `undefined` when nothing is left. */
export function cleanText(value: unknown, max: number): string | undefined {
  if (typeof value !== "string") return undefined;
  const text = clip(collapseWhitespace(value), max);
  return text === "" ? undefined : text;
}

/** UTF-8 size of a string, in bytes. */
export function byteLength(value: string): number {
  return new TextEncoder().encode(value).length;
}
