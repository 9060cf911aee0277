"""The real coding agents, installed by .ci/install-agents, run through `lmprep exec`."""
