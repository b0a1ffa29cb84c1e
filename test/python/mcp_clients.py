"""Python consumers of `mrag serve`: the official MCP Python SDK (stdio and Streamable HTTP with a bearer token)
and LangChain's MCP adapter (MultiServerMCPClient), as an agent framework would load mrag's tools.

Run by test/python/mcp-clients.test.ts against a working folder that holds an ingested corpus (the Milvus FAQ).
Each mode checks what a client needs (initialize, tools/list, search, read of a hit, a bad argument as isError)
and prints one JSON report of what it saw, which the TypeScript side compares with the published tool schemas.

    python test/python/mcp_clients.py stdio --mrag "node bin/mrag.js" --cwd DIR
    python test/python/mcp_clients.py http --url http://127.0.0.1:PORT/mcp --token TOKEN
    python test/python/mcp_clients.py langchain --mrag "node bin/mrag.js" --cwd DIR
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

QUESTION = "How is data stored in milvus?"
TOP_HEADING = "Where does Milvus store data?"
TOOLS = {"search", "read", "list_sources", "status", "ingest", "delete_source"}


class CheckFailed(Exception):
    """A check of mrag's answers failed; the message says which and what came back."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


async def exercise(session: ClientSession) -> dict[str, Any]:
    """The same conversation over any transport: what a Python MCP client does with mrag."""
    init = await session.initialize()
    check(init.serverInfo.name == "mrag", f"serverInfo.name is {init.serverInfo.name!r}")
    check(init.capabilities.tools is not None, "the server announces no tools capability")

    listed = await session.list_tools()
    names = {t.name for t in listed.tools}
    check(names == TOOLS, f"tools/list gave {sorted(names)}")
    search_tool = next(t for t in listed.tools if t.name == "search")
    check(search_tool.inputSchema.get("required") == ["query"], f"search requires {search_tool.inputSchema}")
    check(search_tool.outputSchema is not None, "search publishes no output schema")

    found = await session.call_tool("search", {"query": QUESTION, "k": 3})
    check(not found.isError, f"search failed: {text_of(found)}")
    hits = (found.structuredContent or {}).get("hits", [])
    check(len(hits) == 3, f"search gave {len(hits)} hits")
    check(hits[0].get("heading", "").endswith(TOP_HEADING), f"top hit is {hits[0].get('heading')!r}")
    check(f"[1] {hits[0]['source']}" in text_of(found), "the text content does not list hit [1] with its source")

    read = await session.call_tool("read", {"ids": [hits[0]["id"]], "after": 1})
    check(not read.isError, f"read failed: {text_of(read)}")
    chunks = (read.structuredContent or {}).get("chunks", [])
    check(chunks[0]["id"] == hits[0]["id"], f"read returned {[c['id'] for c in chunks]}")
    check("Milvus deals with two types of data" in (chunks[0].get("text") or ""), "read lacks the hit's full text")
    check([c["role"] for c in chunks] == ["requested", "after"], f"roles {[c['role'] for c in chunks]}")

    bad = await session.call_tool("search", {"query": QUESTION, "k": 0})
    check(bad.isError is True, "search with k=0 did not come back as isError")
    check("k must be between 1 and 50" in text_of(bad), f"bad argument message: {text_of(bad)!r}")
    unknown = await session.call_tool("search", {"query": QUESTION, "colour": "red"})
    check(unknown.isError is True and "colour" in text_of(unknown), f"unknown key: {text_of(unknown)!r}")

    return {
        "server": init.serverInfo.model_dump(),
        "protocolVersion": init.protocolVersion,
        "tools": [t.model_dump(exclude_none=True, by_alias=True) for t in listed.tools],
        "hits": hits,
        "read": chunks,
        "badArgument": text_of(bad),
    }


async def run_stdio(mrag: list[str], cwd: str) -> dict[str, Any]:
    params = StdioServerParameters(command=mrag[0], args=[*mrag[1:], "serve"], cwd=cwd)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        return await exercise(session)


async def run_http(url: str, token: str) -> dict[str, Any]:
    # Without the token the server must refuse before any MCP message is handled.
    async with httpx.AsyncClient() as plain:
        refused = await plain.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    check(refused.status_code == 401, f"a request without the bearer token got HTTP {refused.status_code}")

    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(30, read=300)) as client,
        streamable_http_client(url, http_client=client) as (read, write, session_id),
        ClientSession(read, write) as session,
    ):
        report = await exercise(session)
        check(bool(session_id()), "the server gave no Mcp-Session-Id")
        return report


async def run_langchain(mrag: list[str], cwd: str) -> dict[str, Any]:
    """LangChain's adapter loads mrag's tools and calls `search` directly: no model is involved."""
    from langchain_mcp_adapters.client import MultiServerMCPClient
    from langchain_mcp_adapters.tools import load_mcp_tools

    client = MultiServerMCPClient(
        {"mrag": {"transport": "stdio", "command": mrag[0], "args": [*mrag[1:], "serve"], "cwd": cwd}}
    )
    # One session for all calls (get_tools() alone would start a server for every tool call).
    async with client.session("mrag") as session:
        tools = {t.name: t for t in await load_mcp_tools(session)}
        return await invoke_langchain_search(tools)


async def invoke_langchain_search(tools: dict[str, BaseTool]) -> dict[str, Any]:
    check(set(tools) == TOOLS, f"LangChain loaded {sorted(tools)}")
    search = tools["search"]
    check("query" in search.args, f"the LangChain search tool has args {search.args}")

    # Invoked as a model's tool call would be, so the structured result arrives as the message's artifact.
    message = await search.ainvoke(
        {"type": "tool_call", "id": "call-1", "name": "search", "args": {"query": QUESTION, "k": 3}}
    )
    structured = (message.artifact or {}).get("structured_content", {})
    hits = structured.get("hits", [])
    check(len(hits) == 3, f"search via LangChain gave {len(hits)} hits: {message.content!r}")
    check(hits[0].get("heading", "").endswith(TOP_HEADING), f"top hit via LangChain is {hits[0].get('heading')!r}")
    check(TOP_HEADING in json.dumps(message.content), "the tool message text lacks the top hit")

    bad = await search.ainvoke(
        {"type": "tool_call", "id": "call-2", "name": "search", "args": {"query": QUESTION, "k": 0}}
    )
    check(bad.status == "error", f"a bad argument via LangChain has status {bad.status!r}")
    check("k must be between 1 and 50" in json.dumps(bad.content), f"bad argument via LangChain: {bad.content!r}")
    return {
        "tools": sorted(tools),
        "searchArgs": sorted(search.args),
        "hits": hits,
        "badArgument": bad.content,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    for name in ("stdio", "langchain"):
        sub = modes.add_parser(name)
        sub.add_argument("--mrag", required=True, help='how to run mrag, e.g. "node bin/mrag.js"')
        sub.add_argument("--cwd", required=True, help="working folder with the ingested store")
    http = modes.add_parser("http")
    http.add_argument("--url", required=True)
    http.add_argument("--token", required=True)
    args = parser.parse_args()

    runs: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
        "stdio": lambda: run_stdio(shlex.split(args.mrag), args.cwd),
        "http": lambda: run_http(args.url, args.token),
        "langchain": lambda: run_langchain(shlex.split(args.mrag), args.cwd),
    }
    try:
        report = asyncio.run(runs[args.mode]())
    except CheckFailed as failed:
        print(f"mcp_clients {args.mode}: FAILED: {failed}", file=sys.stderr)
        sys.exit(1)
    json.dump(report, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
