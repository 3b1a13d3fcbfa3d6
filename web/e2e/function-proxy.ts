// A recording proxy in front of each function of the split backend: the URLs the page and
// the Next.js route are given, so the tests see which function received which request (type,
// `turn_id`, user, status, the turn id a stream answered with) and whether a stream ended.
// Tests read the record at GET /__requests of either proxy (they run in other processes).
//
// A Lambda Function URL does not tell a streaming function that its client went away (the
// turn keeps running until `turns.cancel` or its time limit), while the local HTTP mode does.
// A turn asking for a stalled reply (STALLED_REPLY) is proxied the Lambda way: when the client
// leaves, the proxy keeps reading the function's stream instead of closing it, so only
// `turns.cancel` can stop that turn. Every other request is passed on as it is, the client's
// disconnect included.
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import type { FunctionName } from "../src/routes.js";
import { STALLED_REPLY } from "./stub-model.js";

export interface FunctionRequest {
  /** The function the request reached (the proxy in front of it). */
  fn: FunctionName;
  /** The body's `type`. */
  type: string | undefined;
  /** `params.turn_id` (of `turns.cancel`). */
  turnId: string | undefined;
  /** The `sub` of the bearer token (not verified: the function does that). */
  user: string | undefined;
  status?: number;
  /** The `x-chatkit-turn-id` the function answered with (a streamed turn). */
  responseTurnId?: string;
  /** Proxied the Lambda way (the client's disconnect not passed on). */
  held: boolean;
  /** The client went away before the response ended. */
  clientGone?: boolean;
  /** The function's response ended (for a held stream: the turn is over on the server). */
  ended?: boolean;
}

function userOf(authorization: string | undefined): string | undefined {
  const payload = authorization?.match(/^Bearer [^.]+\.([^.]+)\./)?.[1];
  if (!payload) return undefined;
  try {
    const sub = (JSON.parse(Buffer.from(payload, "base64url").toString()) as { sub?: unknown }).sub;
    return typeof sub === "string" ? sub : undefined;
  } catch {
    return undefined;
  }
}

function parse(body: Buffer): { type?: string; turnId?: string } {
  try {
    const request = JSON.parse(body.toString()) as { type?: unknown; params?: { turn_id?: unknown } };
    return {
      type: typeof request.type === "string" ? request.type : undefined,
      turnId: typeof request.params?.turn_id === "string" ? request.params.turn_id : undefined,
    };
  } catch {
    return {};
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** Proxies to `upstream` (a function's `/chatkit` URL), recording into `record`. */
async function startProxy(fn: FunctionName, upstream: string, record: FunctionRequest[]) {
  const target = new URL(upstream);
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === "GET" && req.url === "/__requests") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(record));
      return;
    }
    const body = await readBody(req);
    let entry: FunctionRequest | undefined;
    if (req.method === "POST") {
      const { type, turnId } = parse(body);
      entry = { fn, type, turnId, user: userOf(req.headers.authorization), held: body.includes(STALLED_REPLY) };
      record.push(entry);
    }
    const headers = { ...req.headers, host: target.host };
    const upstreamRequest = httpRequest(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers },
      (answer) => {
        if (entry) {
          entry.status = answer.statusCode;
          const turn = answer.headers["x-chatkit-turn-id"];
          if (typeof turn === "string") entry.responseTurnId = turn;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.on("data", (chunk: Buffer) => {
          if (!res.destroyed) res.write(chunk); // held: read on, the client is gone
        });
        answer.on("end", () => {
          if (entry) entry.ended = true;
          res.end();
        });
        answer.on("error", () => res.destroy());
      },
    );
    upstreamRequest.on("error", () => {
      if (res.destroyed) return;
      if (!res.headersSent) res.writeHead(502, { "content-type": "application/json" });
      res.end('{"error":{"code":"upstream_unreachable","message":"the function could not be reached"}}');
    });
    res.on("close", () => {
      if (res.writableFinished) return;
      if (entry) entry.clientGone = true;
      if (!entry?.held) upstreamRequest.destroy();
    });
    upstreamRequest.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${target.pathname}`,
    requestsUrl: `http://127.0.0.1:${port}/__requests`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A recording proxy in front of each function; one record for both. */
export async function startFunctionProxies(functions: Record<FunctionName, string>) {
  const record: FunctionRequest[] = [];
  const turns = await startProxy("turns", functions.turns, record);
  const threads = await startProxy("threads", functions.threads, record);
  return {
    routes: { turns: turns.url, threads: threads.url },
    requestsUrl: turns.requestsUrl,
    close: async () => {
      await turns.close();
      await threads.close();
    },
  };
}
