#!/bin/bash
# Readiness responder (llm-ready.service; only on stacks with a load balancer: llm:replicas > 1
# or TLS): answers the load balancer's health check on its own port (LLM_READY_PORT, 8001) with
# 200 when vLLM's /health answers 200 and no drain file exists, 503 otherwise. serve.sh creates
# the drain file before it stops vLLM and removes it only after a real chat completion, so the
# load balancer takes this group out first and puts it back last. Installed by the host-scripts
# run; the unit is written and started by serve.sh (its settings come from the serving run).
set -euo pipefail
port=${1:?usage: ready.sh PORT VLLM_PORT DRAIN_FILE}
vllm_port=${2:?usage: ready.sh PORT VLLM_PORT DRAIN_FILE}
drain=${3:?usage: ready.sh PORT VLLM_PORT DRAIN_FILE}
exec python3 -c '
import http.server, os, sys, urllib.request
port, vllm_port, drain = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
class Ready(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 503
        if not os.path.exists(drain):
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/health" % vllm_port, timeout=2) as r:
                    code = 200 if r.status == 200 else 503
            except Exception:
                code = 503
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_HEAD = do_GET
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("", port), Ready).serve_forever()
' "$port" "$vllm_port" "$drain"
