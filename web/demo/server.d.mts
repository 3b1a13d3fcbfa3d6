export function signToken(secret: string, claims: Record<string, unknown>, ttlSeconds?: number): string;
export function startDemoServer(options: {
  port?: number;
  chatkitUrl: string;
  secret: string;
  domainKey?: string;
}): Promise<{ url: string; close: () => Promise<void> }>;
