"""Where the endpoint is and how to call it: curl, the OpenAI Python client, Chatbox.

The request body is the seed's (streaming, the letter from 2035). The key is never inlined:
the commands read `$API_KEY`.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi

from components.common.ports import PORT

SEED_PROMPT = "给闺女写一份来自未来2035的信，同时告诉她要好好学习科技，做科技的主人，推动科技，经济发展；她现在是3年级"


def request_body(model: str) -> dict:
    return {
        "model": model,
        "messages": [{"role": "user", "content": SEED_PROMPT}],
        "max_tokens": 1024,
        "temperature": 0,
        "top_p": 0.9,
        "seed": 10,
        "stream": True,
    }


def curl_command(base_url: str, model: str) -> str:
    body = json.dumps(request_body(model), ensure_ascii=False, indent=2)
    return (
        f"curl {base_url}/chat/completions \\\n"
        '  -H "Content-Type: application/json" \\\n'
        '  -H "Authorization: Bearer ${API_KEY}" \\\n'
        f"  -d '{body}'"
    )


def openai_snippet(base_url: str, model: str) -> str:
    return (
        "import os\n"
        "from openai import OpenAI\n\n"
        f'client = OpenAI(base_url="{base_url}", api_key=os.environ["API_KEY"])\n'
        "stream = client.chat.completions.create(\n"
        f'    model="{model}",\n'
        f'    messages=[{{"role": "user", "content": "{SEED_PROMPT}"}}],\n'
        "    max_tokens=1024, temperature=0, top_p=0.9, seed=10, stream=True,\n"
        ")\n"
        "for chunk in stream:\n"
        "    if chunk.choices and chunk.choices[0].delta.content:\n"
        '        print(chunk.choices[0].delta.content, end="", flush=True)\n'
    )


def chatbox_settings(host_url: str, model: str) -> dict[str, str]:
    """The seed's Chatbox table: custom provider, API host, path, key, model."""
    return {
        "modelProvider": "Add custom provider (OpenAI API compatible)",
        "name": "vLLM API",
        "apiHost": host_url,
        "apiPath": "/v1/chat/completions",
        "improveNetworkCompatibility": "on",
        "apiKey": "the stack output apiKey: pulumi stack output apiKey --show-secrets",
        "model": model,
    }


def endpoint_outputs(
    served_model_name: str,
    private_ip: pulumi.Output[str],
    public_ip: pulumi.Output[str] | None,
    public_https: bool = False,
) -> dict[str, Any]:
    """The stack outputs that say where the API is and how to call it (every shape). With
    `public_https` the public endpoint is the load balancer's HTTPS listener on 443."""
    model = served_model_name
    private = private_ip.apply(lambda ip: f"http://{ip}:{PORT}/v1")
    public_url = (lambda ip: f"https://{ip}/v1") if public_https else (lambda ip: f"http://{ip}:{PORT}/v1")
    public = public_ip.apply(public_url) if public_ip is not None else None
    preferred = public if public is not None else private
    return {
        "privateEndpoint": private,
        "publicEndpoint": public,
        "servedModelName": model,
        "curlCommand": preferred.apply(lambda u: curl_command(u, model)),
        "openaiPython": preferred.apply(lambda u: openai_snippet(u, model)),
        "chatboxSettings": preferred.apply(lambda u: chatbox_settings(u.removesuffix("/v1"), model)),
    }
