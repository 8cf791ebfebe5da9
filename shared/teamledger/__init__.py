"""teamledger: the Lambda layer of the team and budget service (LiteLLM-compatible API)."""
