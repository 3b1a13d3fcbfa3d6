// Starts, once for all browser tests: the model stub, the split backend — the real `turns` and
// `threads` binaries on one DynamoDB Local table (attachments in moto's S3; `turns` with the
// orders example, CHATKIT_EXAMPLE_ORDERS=1), each behind a recording proxy (function-proxy.ts)
// whose URLs are the routes — the demo page server (web/demo) with those routes, two demo
// pages whose routes are wrong (swapped, and the single URL of the `threads` function), and the
// built Next.js example under `next start`, routing through the same proxies.
import type { TestProject } from "vitest/node";

import { signToken, startDemoServer } from "../demo/server.mjs";
import type { ChatKitRoutes } from "../src/routes.js";
import { startFunctionProxies } from "./function-proxy.js";
import { createAttachmentsBucket, freePort, startFunction, startNext, stop } from "./processes.js";
import { startStubModel } from "./stub-model.js";

export const JWT_SECRET = "web-e2e-jwt-secret-0123456789abcdef0123";

declare module "vitest" {
  export interface ProvidedContext {
    /** The demo page, with `routes`. */
    demoUrl: string;
    /** Demo pages configured wrong: routes swapped, and one URL, the threads function's. */
    misroutedDemoUrls: { swapped: string; threadsOnly: string };
    nextUrl: string;
    /** The URLs of the functions (their recording proxies), as the page and Next.js get them. */
    routes: ChatKitRoutes;
    /** Every request the functions received (FunctionRequest[]). */
    functionRequestsUrl: string;
    modelRequestsUrl: string;
    jwtSecret: string;
  }
}

/**
 * One request to each function before the tests, one after the other: the first request
 * makes a function create the shared table (CHATKIT_CREATE_TABLE), so they never race for it.
 */
async function warmUp(url: string, type: string): Promise<void> {
  const response = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${signToken(JWT_SECRET, { sub: "web-e2e-warm-up" })}`, "content-type": "application/json" },
    body: JSON.stringify({ type, params: type === "turns.cancel" ? { turn_id: "warm-up" } : {} }),
  });
  if (!response.ok) throw new Error(`warm-up ${type} at ${url}: HTTP ${response.status} ${await response.text()}`);
}

export default async function setup(project: TestProject) {
  const started = Date.now();
  const model = await startStubModel();
  const ports = { turns: await freePort(), threads: await freePort() };
  const direct = {
    turns: `http://127.0.0.1:${ports.turns}/chatkit`,
    threads: `http://127.0.0.1:${ports.threads}/chatkit`,
  };
  const proxies = await startFunctionProxies(direct);
  const routes = proxies.routes;
  const demo = await startDemoServer({ routes, secret: JWT_SECRET });
  const swapped = await startDemoServer({ routes: { turns: routes.threads, threads: routes.turns }, secret: JWT_SECRET });
  const threadsOnly = await startDemoServer({ chatkitUrl: routes.threads, secret: JWT_SECRET });
  const origins = [demo, swapped, threadsOnly].map((d) => new URL(d.url).origin).join(",");
  const attachmentsBucket = await createAttachmentsBucket(new URL(demo.url).origin);
  const shared = {
    tableName: `web-e2e-${process.pid}`,
    modelUrl: model.url,
    jwtSecret: JWT_SECRET,
    allowedOrigins: origins,
    attachmentsBucket,
  };
  const functions: Awaited<ReturnType<typeof startFunction>>[] = [];
  try {
    const threads = await startFunction({ ...shared, name: "threads", port: ports.threads });
    functions.push(threads);
    await warmUp(threads.url, "threads.list");
    // the orders example (examples/orders): its tool and its actions run in turns
    const turns = await startFunction({ ...shared, name: "turns", port: ports.turns, env: { CHATKIT_EXAMPLE_ORDERS: "1" } });
    functions.push(turns);
    await warmUp(turns.url, "turns.cancel");
  } catch (error) {
    for (const fn of functions) await stop(fn.child);
    throw error;
  }
  const next = await startNext({ port: await freePort(), routes, jwtSecret: JWT_SECRET });
  console.log(
    `e2e: servers up in ${Date.now() - started} ms (turns ${direct.turns}, threads ${direct.threads}, ` +
      `their proxies ${routes.turns} and ${routes.threads}, demo ${demo.url}, next ${next.url})`,
  );

  project.provide("demoUrl", demo.url);
  project.provide("misroutedDemoUrls", { swapped: swapped.url, threadsOnly: threadsOnly.url });
  project.provide("nextUrl", next.url);
  project.provide("routes", routes);
  project.provide("functionRequestsUrl", proxies.requestsUrl);
  project.provide("modelRequestsUrl", model.requestsUrl);
  project.provide("jwtSecret", JWT_SECRET);

  return async () => {
    await stop(next.child);
    for (const fn of functions) await stop(fn.child);
    await proxies.close();
    for (const server of [demo, swapped, threadsOnly]) await server.close();
    await model.close();
  };
}
