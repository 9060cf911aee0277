"""Helpers and tests that run against a real ``llama-server`` binary.

* :mod:`.tiny_gguf`     -- writes a tiny random-weight llama GGUF model.
* :mod:`.server`        -- locates ``llama-server`` and runs it as a context manager.
* :mod:`.loading_proxy` -- a stdlib HTTP proxy that imitates the 503 "Loading model" phase.
* :mod:`.fixtures`      -- pytest fixtures (``llama_server_binary``, ``tiny_gguf``, ``llama_server``).
"""
