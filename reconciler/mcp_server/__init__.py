"""orch over the Model Context Protocol: a face beside the CLI, calling the same loop functions.

:mod:`~reconciler.mcp_server.tools` holds one small function a tool,
:mod:`~reconciler.mcp_server.resources` the files served, and
:mod:`~reconciler.mcp_server.server` registers both in one place and serves
them over stdio (`orch mcp`). The `mcp` SDK is imported only here, so no other
command pays for it.
"""
