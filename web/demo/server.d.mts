export function signToken(secret: string, claims: Record<string, unknown>, ttlSeconds?: number): string;
export function startDemoServer(options: {
  port?: number;
  /** The one function URL (the all-in-one function), without `routes`. */
  chatkitUrl?: string;
  /** The split backend's function URLs: the page routes each request by its type. */
  routes?: { turns: string; threads: string };
  secret: string;
  domainKey?: string;
}): Promise<{ url: string; close: () => Promise<void> }>;
