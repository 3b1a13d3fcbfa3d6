import { cookies } from "next/headers";

import { Chat } from "./chat";
import { COOKIE_NAME, readClaims } from "./dev-token";

export default async function Page() {
  const user = readClaims((await cookies()).get(COOKIE_NAME)?.value);
  return (
    <>
      <header className="site">
        <strong>Acme docs</strong>
        {user ? (
          <form action="/api/sign-out" method="post">
            <span>Signed in as {user.name}</span> <button type="submit">Sign out</button>
          </form>
        ) : (
          <a href="/api/sign-in">Sign in</a>
        )}
      </header>
      <main>
        <article>
          <h1>Reserved concurrency</h1>
          <p id="intro">
            Reserved concurrency sets both the maximum and the guaranteed number of concurrent instances for a
            function. No other function can use that concurrency, and there is no charge for configuring it.
          </p>
          <h2>When to use it</h2>
          <p id="when">
            Use it to protect a downstream database from too many connections, or to make sure a critical function
            can always scale to a known size even when the account is busy.
          </p>
          <h2>Provisioned concurrency</h2>
          <p id="provisioned">
            Provisioned concurrency keeps initialized execution environments ready, so requests skip the cold start.
            It is billed per hour while it is configured.
          </p>
          <p className="hint">Select any sentence and press “Ask about this”.</p>
        </article>
      </main>
      <Chat user={user} />
    </>
  );
}
