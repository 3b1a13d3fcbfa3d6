// @vitest-environment node
import { readFileSync } from "node:fs";

import { describe, expect, it } from "vitest";

import { TURN_REQUEST_TYPES } from "./fetch.js";
import { OPERATION_FUNCTIONS, routeFor, type ChatKitRoutes } from "./routes.js";

const routes: ChatKitRoutes = { turns: "https://turns.test/", threads: "https://threads.test/" };

const TURNS = [
  "threads.create",
  "threads.add_user_message",
  "threads.add_client_tool_output",
  "threads.retry_after_item",
  "threads.custom_action",
  "threads.add_structured_input",
  "turns.cancel",
  "threads.sync_custom_action",
  "input.transcribe",
];
const THREADS = [
  "threads.get_by_id",
  "threads.list",
  "threads.update",
  "threads.delete",
  "items.list",
  "items.feedback",
  "attachments.create",
  "attachments.delete",
];

describe("OPERATION_FUNCTIONS", () => {
  it("maps every operation type to its function, in the table's order", () => {
    expect(Object.entries(OPERATION_FUNCTIONS)).toEqual([
      ...TURNS.map((type) => [type, "turns"]),
      ...THREADS.map((type) => [type, "threads"]),
    ]);
  });

  it("is frozen", () => {
    expect(Object.isFrozen(OPERATION_FUNCTIONS)).toBe(true);
    expect(() => {
      (OPERATION_FUNCTIONS as Record<string, string>)["threads.list"] = "turns";
    }).toThrow(TypeError);
  });

  it("has the six streaming turn types first", () => {
    expect([...TURN_REQUEST_TYPES].sort()).toEqual(TURNS.slice(0, 6).sort());
  });

  it("is written one entry a line, as the Rust test generates it", () => {
    const source = readFileSync(new URL("./routes.ts", import.meta.url), "utf8");
    expect(source.startsWith(
      "// The function that serves each ChatKit operation type. The server side of this map lands with the function split (issue 16), with a Rust test that checks this file against it.\n",
    )).toBe(true);
    const lines = Object.entries(OPERATION_FUNCTIONS).map(([type, fn]) => `  "${type}": "${fn}",\n`);
    expect(source).toContain(
      `= Object.freeze({\n${lines.join("")}});\n`,
    );
  });
});

describe("routeFor", () => {
  it("picks the URL of the type's function", () => {
    for (const type of TURNS) expect(routeFor(type, routes)).toBe(routes.turns);
    for (const type of THREADS) expect(routeFor(type, routes)).toBe(routes.threads);
  });

  it("sends unknown types to turns, which answers a clear error", () => {
    for (const type of ["threads.unknown", "", "toString", "__proto__", "constructor", "hasOwnProperty"]) {
      expect(routeFor(type, routes)).toBe(routes.turns);
    }
  });
});
