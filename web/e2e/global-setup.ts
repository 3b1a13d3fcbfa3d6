// Starts, once for all browser tests: the model stub, the real `chatkit` binary (on DynamoDB
// Local, attachments in moto's S3), the demo page server (web/demo) and the built Next.js
// example under `next start`.
import type { TestProject } from "vitest/node";

import { startDemoServer } from "../demo/server.mjs";
import { createAttachmentsBucket, freePort, startFunction, startNext, stop } from "./processes.js";
import { startStubModel } from "./stub-model.js";

export const JWT_SECRET = "web-e2e-jwt-secret-0123456789abcdef0123";

declare module "vitest" {
  export interface ProvidedContext {
    demoUrl: string;
    nextUrl: string;
    functionUrl: string;
    modelRequestsUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const started = Date.now();
  const model = await startStubModel();
  const functionPort = await freePort();
  const functionUrl = `http://127.0.0.1:${functionPort}/chatkit`;
  const demo = await startDemoServer({ chatkitUrl: functionUrl, secret: JWT_SECRET });
  const attachmentsBucket = await createAttachmentsBucket(new URL(demo.url).origin);
  const fn = await startFunction({
    port: functionPort,
    modelUrl: model.url,
    jwtSecret: JWT_SECRET,
    allowedOrigins: new URL(demo.url).origin,
    attachmentsBucket,
  });
  const next = await startNext({ port: await freePort(), chatkitUrl: fn.url, jwtSecret: JWT_SECRET });
  console.log(`e2e: servers up in ${Date.now() - started} ms (function ${fn.url}, demo ${demo.url}, next ${next.url})`);

  project.provide("demoUrl", demo.url);
  project.provide("nextUrl", next.url);
  project.provide("functionUrl", fn.url);
  project.provide("modelRequestsUrl", model.requestsUrl);

  return async () => {
    await stop(next.child);
    await stop(fn.child);
    await demo.close();
    await model.close();
  };
}
