"""A real MCP server (the Python `mcp` SDK, streamable HTTP) for the ChatKit tests.

Every request must carry `Authorization: Bearer <token>` with one of the tokens given by
`--token TOKEN=USER`; anything else gets 401, as a server that needs user auth does. Each
request is recorded (JSON-RPC method, bearer token, session id) and served back by
`GET /_log`, so tests can see which credential reached the server.

    python server.py [--stateless] --token tok-ada=ada --token tok-bob=bob

prints `PORT <n>` once it listens on 127.0.0.1 (an ephemeral port), then serves until killed.
"""

import argparse
import asyncio
import json
import logging
import socket
import sys

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent

LOG: list[dict] = []
TOKENS: dict[str, str] = {}
CURRENT_USER: dict[str, str] = {}

server = MCPServer("chatkit-test-tools")


def caller(ctx: Context) -> str:
    request = ctx.request_context.request
    header = request.headers.get("authorization", "") if request is not None else ""
    return TOKENS.get(header.removeprefix("Bearer ").strip(), "?")


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


@server.tool(description="A tool hidden by the allowlist in the tests.")
def delete_everything() -> str:
    return "deleted"


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
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        try:
            method = json.loads(raw).get("method") if raw else None
        except (ValueError, AttributeError):
            method = None
        auth = headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        LOG.append({"http": scope["method"], "method": method, "token": token, "session": headers.get("mcp-session-id")})
        if token not in TOKENS:
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
    args = parser.parse_args()
    for pair in args.token:
        token, _, user = pair.partition("=")
        TOKENS[token] = user or token
    logging.basicConfig(level=logging.WARNING)
    for name in ("mcp", "uvicorn", "sse_starlette"):
        logging.getLogger(name).setLevel(logging.WARNING)
    app = server.streamable_http_app(stateless_http=args.stateless, json_response=args.stateless)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(with_auth(app), log_level="warning", lifespan="on")
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    sys.exit(main())
