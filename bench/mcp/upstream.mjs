// The demo MCP server (seed 001 tools, streamable HTTP, stateless) in a process of its own, from the built project.
const { startMcpServer } = await import(new URL('../../dist/gateway/demo/mcp.js', import.meta.url).href);
await startMcpServer(Number(process.argv[2]));
