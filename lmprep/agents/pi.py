"""pi (the pi coding agent): a provider registered by an extension file given with `-e`.

From its docs (docs/custom-provider.md, docs/models.md): `pi.registerProvider(name, {baseUrl,
apiKey, api: "openai-completions", models})`, where `apiKey` may name a variable. lmprep writes one
fixed extension file in its state directory that reads the server, model and window from
variables, so no value is ever written into code. Seen from pi 0.74.2 (the last release for
Node 20; 2026-11): `POST {base}/chat/completions`, streamed with usage, `max_completion_tokens`
from the model's `maxTokens`, 4 function tools, 5.7 kB in all.
"""

from ..protocols import AgentNeeds, FirstRequest, chat_agent
from . import SMOKE_PROMPT, AgentSetup, too_slow_note
from ._trust import NODE

LABEL = "pi"
COMMAND = "pi"
INSTALL = "npm install -g @earendil-works/pi-coding-agent@0.74.2"
#: `lmprep smoke`: --print/-p ("Non-interactive mode: process prompt and exit", `pi --help`, 0.74.2).
#: As tests/realagents/agents.py runs it on CI.
SMOKE_ARGV = ("-p", SMOKE_PROMPT)
MIN_CONTEXT = 16384  # a small prompt (~2k tokens) and 4096 out; sessions grow from there
#: Its private CA: NODE_EXTRA_CA_CERTS (a Node program).
CA_VARIABLES = (NODE,)
FIRST_REQUEST = FirstRequest(2119, 5579, ("POST /v1/chat/completions",), "0.74.2", "2026-12-02")
#: Its offline mode: no update or package checks at start.
OFFLINE = {"PI_OFFLINE": "1"}
#: Its request timeout is only the settings.json key `retry.provider.timeoutMs` (docs/settings.md,
#: "SDK default"; core/sdk.js passes it to pi-ai), in its agent directory, which lmprep does not
#: write: the SDK default is openai 6.26.0's DEFAULT_TIMEOUT, 600000 ms until the answer's headers.
REQUEST_TIMEOUT_MS = 600_000

EXTENSION = """\
// Written by lmprep: the server lmprep made ready, as pi's provider "lmprep" (pi -e <this file>).
module.exports = function (pi) {
  const model = process.env.LMPREP_PI_MODEL;
  pi.registerProvider("lmprep", {
    name: "lmprep",
    baseUrl: process.env.LMPREP_PI_BASE_URL,
    apiKey: "LMPREP_PI_API_KEY",
    api: "openai-completions",
    models: [{
      id: model, name: model, reasoning: false, input: ["text"],
      cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
      contextWindow: Number(process.env.LMPREP_PI_CONTEXT_WINDOW) || 32768,
      maxTokens: Number(process.env.LMPREP_PI_MAX_TOKENS) || 4096,
    }],
  });
};
"""


def needs(kind: str) -> AgentNeeds:
    return chat_agent(LABEL)


def setup(*, v1, model, key, context_length, first_turn_s=None, **_) -> AgentSetup:
    variables = {"LMPREP_PI_BASE_URL": v1, "LMPREP_PI_MODEL": model, "LMPREP_PI_API_KEY": key}
    if context_length:
        variables["LMPREP_PI_CONTEXT_WINDOW"] = str(context_length)
        variables["LMPREP_PI_MAX_TOKENS"] = str(min(context_length // 4, 16384))
    return AgentSetup("pi", variables, [("--provider", "lmprep"), ("--model", model)],
                      files={"-e": ("pi-extension.js", EXTENSION)},
                      notes=too_slow_note(LABEL, first_turn_s, REQUEST_TIMEOUT_MS / 1000,
                                          "the longest it waits for an answer",
                                          "retry.provider.timeoutMs in ~/.pi/agent/settings.json"))
