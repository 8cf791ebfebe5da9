"""TeamLedger in front of a LiteLLM proxy: its keys, budgets and spend enforced on every call.

In the proxy's config:

    general_settings:
      custom_auth: teamledger_litellm.auth
    litellm_settings:
      callbacks: teamledger_litellm.callbacks

with TEAMLEDGER_URL and TEAMLEDGER_KEY (a TeamLedger key allowed on /spend/*) in its
environment. `auth` reserves each call's worst case; `callbacks` settles or releases it.
"""

from teamledger_litellm.gate import auth
from teamledger_litellm.ledger import TeamLedgerCallbacks

callbacks = TeamLedgerCallbacks()

__all__ = ["auth", "callbacks", "TeamLedgerCallbacks"]
