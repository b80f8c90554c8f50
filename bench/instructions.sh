#!/bin/bash
# Instructions per request of one App variant, from callgrind (deterministic, unlike wall clock).
#
#   bench/instructions.sh [VARIANT] [REQUESTS]          e.g. bench/instructions.sh app+metrics 2000
#   TLS=1 bench/instructions.sh app                     HTTPS client (the --tls router of proxy_bench.py)
#   PYTHON=/tmp/venv-deb/bin/python bench/instructions.sh app   the interpreter to run the App with
#
# Needs valgrind (callgrind_control) and nginx.  Starts an nginx backend and the App (the same
# configuration as `proxy_bench.py --variants VARIANT`) under callgrind on free 127.0.0.1 ports,
# sends 200 warm-up requests over 4 keep-alive connections, zeroes the counters, sends REQUESTS
# more, dumps, and prints user-space instructions per request.  Everything it starts is stopped.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(dirname "$HERE")
VARIANT=${1:-app}; N=${2:-2000}; PY=${PYTHON:-python3}; T=False; [ -n "${TLS:-}" ] && T=True
W=$(mktemp -d); NG=""; VP=""
cleanup() { [ -n "$VP" ] && kill "$VP" 2>/dev/null; [ -n "$NG" ] && kill "$NG" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
port() { "$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import proxy_bench as b; print(b.free_port())' "$HERE"; }
BP=$(port); P=$(port)
"$PY" - "$HERE" "$W" "$BP" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); import proxy_bench as b; from pathlib import Path
w, bp = Path(sys.argv[2]), int(sys.argv[3])
(w / "backend.conf").write_text(b.NGINX_COMMON.format(dir=w, name="backend", body=b.BACKEND.format(port=bp, text=b.BODY.replace("\n", "\\n"))))
PY
nginx -c "$W/backend.conf" -p "$W" -e "$W/backend.stderr.log" & NG=$!
mapfile -t FLAGS < <("$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import proxy_bench as b; from pathlib import Path
print("\n".join(b.app_config(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6] == "True")))' \
  "$HERE" "$W" "$P" "$BP" "$VARIANT" "$T")
PYTHONPATH="$ROOT" valgrind --tool=callgrind --callgrind-out-file="$W/cg.out" "$PY" "$HERE/proxy_bench.py" \
  --serve-app "${FLAGS[@]}" >/dev/null 2>"$W/valgrind.log" & VP=$!
"$PY" - "$HERE" "$P" "$N" "$T" "$VP" <<'PY'
import socket, ssl, subprocess, sys
sys.path.insert(0, sys.argv[1]); import proxy_bench as b
port, n, tls, pid = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "True", sys.argv[5]
b.wait_port(port, timeout=600); b.wait_routed(port, timeout=3000, tls=tls)
req = f"GET {b.PATH} HTTP/1.1\r\nHost: {b.HOST}\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n".encode()
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
if tls:
    ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    socks = [ctx.wrap_socket(s, server_hostname=b.HOST) for s in socks]
def run(count):
    for _ in range(0, count, len(socks)):
        for s in socks:
            s.sendall(req)
        for s in socks:
            buf = b""
            while True:
                buf += s.recv(65536)
                end = buf.find(b"\r\n\r\n")
                if end >= 0 and len(buf) >= end + 4 + int(buf.lower().split(b"content-length:")[1].split(b"\r\n")[0]):
                    break
            assert buf.startswith(b"HTTP/1.1 200"), buf[:100]
run(200)
subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
run(n)
subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
PY
TOTAL=$(grep -hE "^(summary|totals):" "$W"/cg.out.* | head -1 | awk '{print $2}')
"$PY" -c 'import sys; print(f"{sys.argv[1]}{sys.argv[2]}: {int(sys.argv[3]) / int(sys.argv[4]) / 1000:.1f}k instructions per request")' \
  "$VARIANT" "${TLS:+ (tls)}" "$TOTAL" "$N"
