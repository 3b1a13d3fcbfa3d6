// Starting and stopping the real servers behind the browser tests.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

export async function waitFor(url: string, what: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with status ${child.exitCode}`);
    try {
      const response = await fetch(url);
      if (response.status < 500) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`${what} did not answer at ${url} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveStop) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolveStop();
    });
    child.kill("SIGTERM");
  });
}

/** Output kept for the failure message, not printed while things go well. */
function collect(child: ChildProcess): () => string {
  let log = "";
  const keep = (data: Buffer) => {
    log = (log + data.toString()).slice(-20_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return () => log;
}

/** The functions of the set (docs/functions.md) and the all-in-one one. */
export type FunctionBinary = "turns" | "threads" | "chatkit";

/** A function's binary as `cargo build`/`cargo test` made it (CHATKIT_BIN_DIR overrides the directory). */
export function functionBinary(name: FunctionBinary): string {
  const target = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(REPO, "target");
  const binary = join(process.env.CHATKIT_BIN_DIR ? resolve(process.env.CHATKIT_BIN_DIR) : join(target, "debug"), name);
  if (!existsSync(binary)) throw new Error(`no ${name} binary at ${binary}: run \`cargo build -p ${name}\` first (make web-e2e does)`);
  return binary;
}

export interface FunctionOptions {
  /** Which function: `turns`, `threads`, or the all-in-one `chatkit`. */
  name: FunctionBinary;
  port: number;
  /** The DynamoDB table; the functions of one backend share it (created on first use). */
  tableName: string;
  modelUrl: string;
  jwtSecret: string;
  /** CORS origins, comma-separated. */
  allowedOrigins: string;
  /** Attachments on, in this bucket (moto's S3 at AWS_ENDPOINT_URL_S3). */
  attachmentsBucket?: string;
  /** More settings for this function (e.g. `CHATKIT_EXAMPLE_ORDERS`), set last. */
  env?: Record<string, string>;
}

/** A real function in its local HTTP mode, on DynamoDB Local (scripts/with-dynamodb.sh). */
export async function startFunction(options: FunctionOptions) {
  if (!process.env.AWS_ENDPOINT_URL_DYNAMODB) {
    throw new Error("AWS_ENDPOINT_URL_DYNAMODB is not set: run the browser tests through `make web-e2e` (DynamoDB Local)");
  }
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^(CHATKIT_|OPENAI_)/.test(name)) delete env[name];
  }
  Object.assign(env, {
    PORT: String(options.port),
    CHATKIT_TABLE_NAME: options.tableName,
    CHATKIT_CREATE_TABLE: "1",
    CHATKIT_JWT_SECRET: options.jwtSecret,
    OPENAI_API_KEY: "sk-web-e2e",
    OPENAI_BASE_URL: options.modelUrl,
    CHATKIT_MODEL_API: "chat_completions",
    CHATKIT_ALLOWED_ORIGINS: options.allowedOrigins,
    RUST_LOG: "warn",
  });
  if (options.attachmentsBucket) env.CHATKIT_ATTACHMENTS_BUCKET = options.attachmentsBucket;
  Object.assign(env, options.env);
  const child = spawn(functionBinary(options.name), [], { env, stdio: ["ignore", "pipe", "pipe"] });
  const log = collect(child);
  try {
    await waitFor(`http://127.0.0.1:${options.port}/healthz`, `the ${options.name} function`, child, 60_000);
  } catch (error) {
    await stop(child);
    throw new Error(`${(error as Error).message}\n${log()}`);
  }
  return { name: options.name, url: `http://127.0.0.1:${options.port}/chatkit`, child, log };
}

export interface NextOptions {
  port: number;
  /** The function URLs the proxy route sends to (CHATKIT_TURNS_URL, CHATKIT_THREADS_URL). */
  routes: { turns: string; threads: string };
  jwtSecret: string;
}

/** The built example app (`next build` first) under `next start`. */
export async function startNext(options: NextOptions) {
  const app = join(REPO, "examples", "nextjs");
  if (!existsSync(join(app, ".next", "BUILD_ID"))) {
    throw new Error("examples/nextjs is not built: run `npm run -w examples/nextjs build` first (make test does)");
  }
  const next = join(REPO, "node_modules", "next", "dist", "bin", "next");
  const child = spawn(process.execPath, [next, "start", "-p", String(options.port), "-H", "127.0.0.1"], {
    cwd: app,
    env: {
      // the routes only: no CHATKIT_URL from outside to fall back on
      ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("CHATKIT_"))),
      NODE_ENV: "production",
      NEXT_TELEMETRY_DISABLED: "1",
      CHATKIT_TURNS_URL: options.routes.turns,
      CHATKIT_THREADS_URL: options.routes.threads,
      CHATKIT_DEV_JWT_SECRET: options.jwtSecret,
      // the example's sign-in route is for development; a built app needs the opt-in
      CHATKIT_DEV_SIGN_IN: "1",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log = collect(child);
  const url = `http://127.0.0.1:${options.port}/`;
  try {
    await waitFor(url, "next start", child, 60_000);
  } catch (error) {
    await stop(child);
    throw new Error(`${(error as Error).message}\n${log()}`);
  }
  return { url, child, log };
}

/**
 * A bucket in moto's S3 (scripts/with-moto.sh) with the template's CORS rule: PUT and GET from
 * `origin`, the content-type header allowed. moto takes these calls unsigned.
 */
export async function createAttachmentsBucket(origin: string): Promise<string> {
  const endpoint = process.env.AWS_ENDPOINT_URL_S3;
  if (!endpoint) throw new Error("AWS_ENDPOINT_URL_S3 is not set: run the browser tests through `make web-e2e` (moto)");
  const bucket = `web-e2e-attachments-${process.pid}`;
  const created = await fetch(`${endpoint}/${bucket}`, { method: "PUT" });
  if (!created.ok) throw new Error(`moto create bucket: HTTP ${created.status}`);
  const cors =
    "<CORSConfiguration><CORSRule>" +
    `<AllowedOrigin>${origin}</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod>` +
    "<AllowedHeader>content-type</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds>" +
    "</CORSRule></CORSConfiguration>";
  const configured = await fetch(`${endpoint}/${bucket}?cors`, { method: "PUT", body: cors, headers: { "content-type": "application/xml" } });
  if (!configured.ok) throw new Error(`moto bucket CORS: HTTP ${configured.status}`);
  return bucket;
}
