"""A real MCP server (the Python `mcp` SDK, streamable HTTP) for the ChatKit tests.

Every request must carry `Authorization: Bearer <token>` with one of the tokens given by
`--token TOKEN=USER`; anything else gets 401, as a server that needs user auth does. Each
request is recorded (JSON-RPC method, bearer token, session id) and served back by
`GET /_log`, so tests can see which credential reached the server.

    python server.py [--stateless] --token tok-ada=ada --token tok-bob=bob

prints `PORT <n>` once it listens on 127.0.0.1 (an ephemeral port), then serves until killed.

With `--jwt-secret KEY --client ID:SECRET` it is also an identity provider and a server that
accepts only tokens issued for itself (RFC 8693 token exchange with RFC 8707 resource
indicators): `POST /oauth/token` trades a subject token (an HS256 JWT under KEY, not expired,
with audience `--subject-audience` when given) for a JWT signed by the same KEY whose `aud` is
the requested `resource` (this server's `/mcp` URL or one given by `--resource`), valid for
`--exchange-ttl` seconds. `/mcp` then accepts a JWT only with its own URL as audience.
`POST /_idp/refuse` makes every later exchange fail (`invalid_grant`).
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import logging
import socket
import sys
import time
import urllib.parse

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent

LOG: list[dict] = []
TOKENS: dict[str, str] = {}
CURRENT_USER: dict[str, str] = {}
IDP: dict = {"secret": None, "client": None, "subject_audience": None, "ttl": 300, "resources": [], "refuse": False}

server = MCPServer("chatkit-test-tools")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_jwt(claims: dict) -> str:
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    mac = hmac.new(IDP["secret"].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


def verify_jwt(token: str, audience: str | None) -> dict | None:
    """The claims of an HS256 JWT under the IdP's key, not expired, for `audience` (if given)."""
    if IDP["secret"] is None or token.count(".") != 2:
        return None
    head, body, mac = token.split(".")
    try:
        if json.loads(unb64url(head)).get("alg") != "HS256":
            return None
        expected = hmac.new(IDP["secret"].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, unb64url(mac)):
            return None
        claims = json.loads(unb64url(body))
    except ValueError:
        return None
    if claims.get("exp", 0) < time.time():
        return None
    if audience is not None:
        aud = claims.get("aud")
        if aud != audience and not (isinstance(aud, list) and audience in aud):
            return None
    return claims


def user_of(token: str | None) -> str | None:
    """Who a bearer token is: a listed static token, or a JWT issued for this server."""
    if token is None:
        return None
    if token in TOKENS:
        return TOKENS[token]
    claims = verify_jwt(token, IDP.get("own_url"))
    return claims.get("sub") if claims else None


def caller(ctx: Context) -> str:
    request = ctx.request_context.request
    header = request.headers.get("authorization", "") if request is not None else ""
    return user_of(header.removeprefix("Bearer ").strip()) or "?"


@server.tool(description="Creates a task in the user's task list and returns it.")
def create_task(title: str, ctx: Context) -> dict:
    return {"id": "task-1", "title": title, "owner": caller(ctx)}


@server.tool(description="Says which user the server sees.")
def whoami(ctx: Context) -> str:
    return f"you are {caller(ctx)}"


@server.tool(description="Always fails.")
def explode(reason: str = "boom") -> str:
    raise ToolError(f"the task service refused: {reason}")


@server.tool(description="Takes `seconds` to answer, reporting progress.")
async def slow(seconds: float, ctx: Context) -> str:
    await ctx.report_progress(0, 1, "started")
    await asyncio.sleep(seconds)
    return "finally done"


@server.tool(description="Shows the user's tasks as a card.")
def task_card() -> CallToolResult:
    widget = {
        "type": "Card",
        "children": [
            {"type": "Title", "value": "Your tasks"},
            {"type": "Text", "value": "Write the report"},
            # what the agent removes from a third party's widget unless the server lists it
            {"type": "Image", "src": "https://tracker.example/pixel.gif"},
            {"type": "Button", "label": "Approve", "onClickAction": {"type": "orders.approve", "payload": {"order_id": "42"}}},
        ],
    }
    return CallToolResult(content=[TextContent(type="text", text="Your tasks: Write the report")], structured_content=widget)


@server.tool(description="Returns structured content that is not a widget.")
def broken_card() -> CallToolResult:
    bogus = {"type": "Card", "children": "not a list"}
    return CallToolResult(content=[TextContent(type="text", text="a broken card")], structured_content=bogus)


@server.tool(description="Answers `megabytes` MB of text.")
def flood(megabytes: float) -> str:
    return "x" * int(megabytes * 1024 * 1024)


@server.tool(description="A tool hidden by the allowlist in the tests.")
def delete_everything() -> str:
    return "deleted"


def token_exchange(headers: dict, raw: bytes) -> tuple[int, dict]:
    """RFC 8693 §2: the answer to a token exchange request."""
    form = dict(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True))
    entry = {"http": "POST", "method": "token_exchange", "token": None, "resource": form.get("resource"),
             "subject_user": None, "content_type": headers.get("content-type")}
    LOG.append(entry)
    auth = headers.get("authorization", "")
    try:
        pair = base64.b64decode(auth.removeprefix("Basic ")).decode() if auth.startswith("Basic ") else ""
    except ValueError:
        pair = ""
    client_id, _, secret = pair.partition(":")
    if IDP["client"] is None or (urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)) != IDP["client"]:
        return 401, {"error": "invalid_client"}
    if IDP["refuse"]:
        return 400, {"error": "invalid_grant", "error_description": f"refused {form.get('subject_token')}"}
    if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange":
        return 400, {"error": "unsupported_grant_type"}
    if form.get("subject_token_type") != "urn:ietf:params:oauth:token-type:access_token":
        return 400, {"error": "invalid_request"}
    claims = verify_jwt(form.get("subject_token", ""), IDP["subject_audience"])
    if claims is None:
        return 400, {"error": "invalid_grant"}
    entry["subject_user"] = claims.get("sub")
    resource = form.get("resource")
    if resource not in IDP["resources"]:
        return 400, {"error": "invalid_target"}
    now = int(time.time())
    issued = {"iss": claims.get("iss"), "sub": claims.get("sub"), "aud": resource, "iat": now, "exp": now + IDP["ttl"]}
    issued = {k: v for k, v in issued.items() if v is not None}
    return 200, {"access_token": sign_jwt(issued), "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                 "token_type": "Bearer", "expires_in": IDP["ttl"]}


async def answer(send, status: int, body: dict) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def with_auth(app):
    """Refuses requests without an accepted bearer token; records the rest."""

    async def guarded(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if scope["path"] == "/_log":
            body = json.dumps(LOG).encode()
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
            return await send({"type": "http.response.body", "body": body})
        if scope["path"] == "/_idp/refuse":
            IDP["refuse"] = True
            return await answer(send, 200, {})
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        if scope["path"] == "/oauth/token" and scope["method"] == "POST":
            return await answer(send, *token_exchange(headers, raw))
        try:
            method = json.loads(raw).get("method") if raw else None
        except (ValueError, AttributeError):
            method = None
        auth = headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        LOG.append({"http": scope["method"], "method": method, "token": token, "session": headers.get("mcp-session-id")})
        if user_of(token) is None:
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
            return await send({"type": "http.response.body", "body": b'{"error":"unauthorized"}'})

        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        return await app(scope, replay, send)

    return guarded


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stateless", action="store_true", help="no sessions, JSON responses")
    parser.add_argument("--token", action="append", default=[], help="TOKEN=USER accepted as a bearer token")
    parser.add_argument("--jwt-secret", help="HS256 key of the subject tokens and the issued ones (turns the IdP on)")
    parser.add_argument("--client", help="ID:SECRET of the token exchange client")
    parser.add_argument("--subject-audience", help="required audience of subject tokens")
    parser.add_argument("--exchange-ttl", type=int, default=300, help="expires_in of issued tokens")
    parser.add_argument("--resource", action="append", default=[], help="another resource tokens may be issued for")
    args = parser.parse_args()
    for pair in args.token:
        token, _, user = pair.partition("=")
        TOKENS[token] = user or token
    if args.jwt_secret:
        client_id, _, secret = (args.client or "").partition(":")
        IDP.update(secret=args.jwt_secret, client=(client_id, secret), subject_audience=args.subject_audience,
                   ttl=args.exchange_ttl, resources=list(args.resource))
    logging.basicConfig(level=logging.WARNING)
    for name in ("mcp", "uvicorn", "sse_starlette"):
        logging.getLogger(name).setLevel(logging.WARNING)
    app = server.streamable_http_app(stateless_http=args.stateless, json_response=args.stateless)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    IDP["own_url"] = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    IDP["resources"].append(IDP["own_url"])
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(with_auth(app), log_level="warning", lifespan="on")
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    sys.exit(main())
