#!/usr/bin/env node
// The demo page of `make dev` (and of the browser tests): a docs page that loads the ChatKit
// web component from OpenAI's CDN and talks to the local functions through this package
// (`createChatKitFetch` with a dev token and the routes, `getPageContext`, the selection Ask).
//
//   node web/demo/server.mjs          # after `npm run -w web build`
//
// Settings (environment): CHATKIT_TURNS_URL and CHATKIT_THREADS_URL (the split backend: each
// request goes to its function, `createChatKitFetch({ routes })`), or else CHATKIT_URL (one
// function serving everything, default make dev's all-in-one
// http://127.0.0.1:9000/lambda-url/chatkit/); CHATKIT_JWT_SECRET (the functions' local HS256
// secret), CHATKIT_DEMO_PORT (default 9001), CHATKIT_DOMAIN_KEY (default local-dev).
// `/config.json?user=<id>&name=<name>` mints a one-hour token for that user: a local
// development server only, bound to 127.0.0.1.
import { createHmac } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { dirname, extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "..", "dist");
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".map": "application/json" };

const base64url = (value) => Buffer.from(value).toString("base64url");

/** An HS256 JWT, as the function expects (`sub`, `exp`; `name` for display). */
export function signToken(secret, claims, ttlSeconds = 3600) {
  const header = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const payload = base64url(JSON.stringify({ ...claims, exp: Math.floor(Date.now() / 1000) + ttlSeconds }));
  const signature = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${signature}`;
}

async function file(root, path) {
  const full = normalize(join(root, path));
  if (full !== root && !full.startsWith(root + sep)) return null;
  try {
    return { body: await readFile(full), type: TYPES[extname(full)] ?? "application/octet-stream" };
  } catch {
    return null;
  }
}

/**
 * Starts the demo server on 127.0.0.1 and resolves to `{ url, close }`. The page gets
 * `routes` (the split backend's function URLs) or, without them, the one `chatkitUrl`.
 * @param {{ port?: number, chatkitUrl?: string, routes?: { turns: string, threads: string }, secret: string, domainKey?: string }} options
 */
export async function startDemoServer({ port = 0, chatkitUrl, routes, secret, domainKey = "local-dev" }) {
  if (routes && !(routes.turns && routes.threads)) {
    throw new TypeError("startDemoServer: `routes` needs the URL of both the turns and the threads function");
  }
  if (!routes && !chatkitUrl) throw new TypeError("startDemoServer: pass `routes` or `chatkitUrl`");
  // ChatKit wants one `api.url`; with routes the page's fetch sends each request to its function
  const pageConfig = routes ? { url: chatkitUrl ?? routes.turns, routes } : { url: chatkitUrl };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    let found = null;
    if (url.pathname === "/config.json") {
      const id = (url.searchParams.get("user") || "dev").slice(0, 64);
      const name = (url.searchParams.get("name") || "Dev User").slice(0, 100);
      const body = JSON.stringify({ ...pageConfig, domainKey, token: signToken(secret, { sub: id, name }), user: { id, name } });
      found = { body, type: "application/json" };
    } else if (url.pathname.startsWith("/kit/")) {
      found = await file(dist, url.pathname.slice("/kit/".length));
    } else {
      found = await file(here, url.pathname === "/" ? "index.html" : url.pathname.slice(1));
      if (found && url.pathname.endsWith(".mjs")) found = null;
    }
    if (!found) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": found.type, "cache-control": "no-store" }).end(found.body);
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const address = server.address();
  return {
    url: `http://127.0.0.1:${address.port}/`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const secret = process.env.CHATKIT_JWT_SECRET;
  if (!secret) {
    console.error("demo: set CHATKIT_JWT_SECRET to the function's local HS256 secret");
    process.exit(1);
  }
  const turns = process.env.CHATKIT_TURNS_URL;
  const threads = process.env.CHATKIT_THREADS_URL;
  if (!turns !== !threads) {
    console.error("demo: set both CHATKIT_TURNS_URL and CHATKIT_THREADS_URL (the split backend), or neither and CHATKIT_URL");
    process.exit(1);
  }
  const demo = await startDemoServer({
    port: Number(process.env.CHATKIT_DEMO_PORT ?? 9001),
    routes: turns && threads ? { turns, threads } : undefined,
    chatkitUrl: turns ? undefined : (process.env.CHATKIT_URL ?? "http://127.0.0.1:9000/lambda-url/chatkit/"),
    secret,
    domainKey: process.env.CHATKIT_DOMAIN_KEY ?? "local-dev",
  });
  console.log(`demo: ${demo.url} (${turns ? `turns ${turns}, threads ${threads}` : `one function: ${process.env.CHATKIT_URL ?? "make dev's chatkit"}`})`);
}
