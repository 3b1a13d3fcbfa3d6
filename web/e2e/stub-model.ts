// An OpenAI-compatible model stub on 127.0.0.1 (Chat Completions): streams a reply as real SSE,
// one word per chunk with a pause between them (a long reply, or one that stalls, when asked
// for), calls the orders example's `show_order` tool when asked to (SHOW_ORDER), answers the
// title call, and records every request. Tests read the record at GET /__requests (they run in
// other processes).
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  path: string;
  authorization: string | undefined;
  body: {
    stream?: boolean;
    messages?: { role: string; content: unknown; tool_call_id?: string; tool_calls?: unknown[] }[];
    tools?: { type: string; function?: { name?: string } }[];
  } & Record<string, unknown>;
  /** For a streamed reply: sent to the end, or the client (the function) went away first. */
  outcome?: "streaming" | "completed" | "client-gone";
}

export const STUB_TITLE = "Stub title";
/** The words every streamed reply ends with. */
export const REPLY_TAIL = "This reply streams in many small parts.";
/** A question with this gets hundreds of words (over a minute): still streaming on any machine. */
export const LONG_REPLY = "(a long answer, please)";
/**
 * A question with this gets a reply that stops after a few words (PARTIAL_REPLY) and then
 * stays open, sending nothing, until the function goes away: a turn to stop.
 */
export const STALLED_REPLY = "(stall after a few words)";
/** The words a stalled reply ends with before it stalls. */
export const PARTIAL_REPLY = "Here is the first part of";
/**
 * A question with this, to a function offering `show_order` (CHATKIT_EXAMPLE_ORDERS=1), gets
 * that tool called (SHOW_ORDER_CALL) instead of a reply; once the tool's output follows the
 * question, the usual reply.
 */
export const SHOW_ORDER = "show me order #42";
/** The tool call a SHOW_ORDER question gets. */
export const SHOW_ORDER_CALL = { id: "call_stub_show_order", name: "show_order", arguments: '{"order_id":"42"}' };

function lastUserText(body: RecordedRequest["body"]): string {
  const user = [...(body.messages ?? [])].reverse().find((m) => m.role === "user");
  const content = user?.content;
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p: { text?: string }) => p.text ?? "").join(" ");
  return "";
}

/** SHOW_ORDER asked, `show_order` offered, and no tool output after the question yet. */
function callsShowOrder(body: RecordedRequest["body"]): boolean {
  const messages = body.messages ?? [];
  const asked = messages.map((m) => m.role).lastIndexOf("user");
  return (
    asked !== -1 &&
    lastUserText(body).includes(SHOW_ORDER) &&
    (body.tools ?? []).some((tool) => tool.function?.name === SHOW_ORDER_CALL.name) &&
    !messages.slice(asked + 1).some((m) => m.role === "tool")
  );
}

function chunk(delta: Record<string, unknown>, finish: string | null = null) {
  return `data: ${JSON.stringify({ id: "chatcmpl-stub", object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startStubModel({ delayMs = 120 }: { delayMs?: number } = {}) {
  const requests: RecordedRequest[] = [];

  async function stream(res: ServerResponse, record: RecordedRequest) {
    const body = record.body;
    record.outcome = "streaming";
    res.on("close", () => {
      if (record.outcome === "streaming") record.outcome = "client-gone";
    });
    if (callsShowOrder(body)) {
      // one tool call in one piece, as the Chat Completions stream shapes it
      const { id, name, arguments: args } = SHOW_ORDER_CALL;
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(chunk({ role: "assistant", content: null }));
      await sleep(delayMs);
      res.write(chunk({ tool_calls: [{ index: 0, id, type: "function", function: { name, arguments: args } }] }));
      res.write(chunk({}, "tool_calls"));
      res.write(`data: ${JSON.stringify({ id: "chatcmpl-stub", choices: [], usage: { prompt_tokens: 10, completion_tokens: 5 } })}\n\n`);
      res.end("data: [DONE]\n\n");
      record.outcome = "completed";
      return;
    }
    const asked = lastUserText(body).replace(/\s+/g, " ").trim().slice(0, 80);
    const filler = lastUserText(body).includes(LONG_REPLY) ? "and so on ".repeat(250) : "";
    const stalls = lastUserText(body).includes(STALLED_REPLY);
    const words = `You asked: “${asked}”. ${stalls ? PARTIAL_REPLY : `${filler}${REPLY_TAIL}`}`.split(" ");
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write(chunk({ role: "assistant", content: "" }));
    for (const [i, word] of words.entries()) {
      if (res.destroyed || record.outcome !== "streaming") return;
      await sleep(delayMs);
      res.write(chunk({ content: i === 0 ? word : ` ${word}` }));
    }
    if (stalls) return; // open until the client goes away ("client-gone")
    res.write(chunk({}, "stop"));
    res.write(`data: ${JSON.stringify({ id: "chatcmpl-stub", choices: [], usage: { prompt_tokens: 10, completion_tokens: words.length } })}\n\n`);
    res.end("data: [DONE]\n\n");
    record.outcome = "completed";
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = new URL(req.url ?? "/", "http://stub").pathname;
      if (req.method === "GET" && path === "/__requests") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(requests));
        return;
      }
      let body: RecordedRequest["body"] = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString() || "{}");
      } catch {
        /* recorded as {} */
      }
      const record: RecordedRequest = { path, authorization: req.headers.authorization, body };
      requests.push(record);
      if (!path.endsWith("/chat/completions")) {
        res.writeHead(404, { "content-type": "application/json" }).end('{"error":{"message":"the stub speaks Chat Completions only"}}');
      } else if (body.stream === true) {
        void stream(res, record);
      } else {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ choices: [{ message: { role: "assistant", content: STUB_TITLE } }] }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requestsUrl: `http://127.0.0.1:${port}/__requests`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
