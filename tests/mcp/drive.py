"""Drives mcp-worker's MCP server with the official MCP Python SDK, as an assistant would.

Reads a plan (JSON) on stdin and prints, as one JSON document, what each step answered:
  {"transport": "http", "url": …, "headers": {…}, "mode": "auto" | "legacy", "steps": [...]}
  {"transport": "stdio", "command": …, "args": […], "env": {…}, "mode": …, "steps": [...]}
Steps: {"op": "list_tools"}, {"op": "call", "tool": …, "args": {…}},
{"op": "pages", "tool": …, "args": {…}, "cursor_arg": "cursor", "next": "next_cursor",
"while": …, "max": N} (calls again with the answer's `next` passed as `cursor_arg` while the
answer's `while` field, by default `next`, is set). A failure to connect is reported, not raised.
"""

import asyncio
import json
import sys

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client


def result_of(r):
    text = "".join(getattr(c, "text", "") for c in r.content)
    return {"is_error": bool(r.is_error), "structured": r.structured_content, "text": text}


async def run_steps(client, steps):
    out = []
    for s in steps:
        if s["op"] == "list_tools":
            tools = (await client.list_tools()).tools
            out.append({"tools": [
                {"name": t.name,
                 "input_schema": t.input_schema,
                 "output_schema": t.output_schema,
                 "read_only": bool(t.annotations and t.annotations.read_only_hint)}
                for t in tools]})
        elif s["op"] == "call":
            out.append(result_of(await client.call_tool(s["tool"], s.get("args", {}))))
        elif s["op"] == "pages":
            pages, args = [], dict(s.get("args", {}))
            for _ in range(s.get("max", 100)):
                r = result_of(await client.call_tool(s["tool"], args))
                pages.append(r)
                got = r["structured"] or {}
                nxt = got.get(s.get("next", "next_cursor"))
                if r["is_error"] or nxt is None or not got.get(s.get("while", s.get("next", "next_cursor"))):
                    break
                args[s.get("cursor_arg", "cursor")] = nxt
            out.append({"pages": pages})
        else:
            raise ValueError(f"unknown step {s['op']}")
    return out


async def main():
    plan = json.load(sys.stdin)
    mode = plan.get("mode", "auto")
    try:
        if plan["transport"] == "http":
            http = httpx2.AsyncClient(headers=plan.get("headers", {}), timeout=30)
            transport = streamable_http_client(plan["url"], http_client=http)
        else:
            transport = StdioServerParameters(command=plan["command"], args=plan.get("args", []),
                                              env=plan.get("env"))
        async with Client(transport, mode=mode) as client:
            steps = await run_steps(client, plan.get("steps", []))
            proto = getattr(client, "protocol_version", None)
        print(json.dumps({"ok": True, "steps": steps, "protocol_version": str(proto) if proto else None}))
    except BaseException as e:  # connection refused, 401, 403: reported for the test to check
        msgs = []
        stack = [e]
        while stack:
            x = stack.pop()
            msgs.append(f"{type(x).__name__}: {x}")
            stack.extend(getattr(x, "exceptions", []) or [])
        print(json.dumps({"ok": False, "error": " | ".join(msgs)}))


asyncio.run(main())
