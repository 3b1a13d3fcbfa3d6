// The function that serves each ChatKit operation type. The server side of this map lands with the function split (issue 16), with a Rust test that checks this file against it.

/** The Lambda functions that serve ChatKit requests. */
export type FunctionName = "turns" | "threads";

/** The URL of each function. */
export type ChatKitRoutes = { turns: string; threads: string };

/** The function that serves each ChatKit request `type`. */
export const OPERATION_FUNCTIONS: Readonly<Record<string, FunctionName>> = Object.freeze({
  "threads.create": "turns",
  "threads.add_user_message": "turns",
  "threads.add_client_tool_output": "turns",
  "threads.retry_after_item": "turns",
  "threads.custom_action": "turns",
  "threads.add_structured_input": "turns",
  "turns.cancel": "turns",
  "threads.sync_custom_action": "turns",
  "input.transcribe": "turns",
  "threads.get_by_id": "threads",
  "threads.list": "threads",
  "threads.update": "threads",
  "threads.delete": "threads",
  "items.list": "threads",
  "items.feedback": "threads",
  "attachments.create": "threads",
  "attachments.delete": "threads",
});

/**
 * The URL of the function that serves request `type`. Unknown types go to `turns`: that
 * function (like the all-in-one one) answers a clear error for any type it does not serve.
 */
export function routeFor(type: string, routes: ChatKitRoutes): string {
  return routes[Object.hasOwn(OPERATION_FUNCTIONS, type) ? OPERATION_FUNCTIONS[type]! : "turns"];
}
