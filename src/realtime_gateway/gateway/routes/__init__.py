"""The gateway's routes: session minting and the operational endpoints."""
