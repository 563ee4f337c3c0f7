#!/bin/sh
# The dependency floors of pyproject.toml, tried: every direct dependency at
# the lowest version its bound allows (uv's --resolution lowest-direct; uv
# itself from PyPI in a throwaway venv), then a fast subset of the tests and
# one purchase through the installed `cardcore serve --simulator`. A floor
# that is too low fails here. How each floor was found: README "Dependency
# floors".
set -eu
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
DIR=${LOWEST_DIR:-.venv-lowest}
start=$(date +%s)

rm -rf "$DIR"
"$PYTHON" -m venv "$DIR/uv"
"$DIR/uv/bin/python" -m pip install -q --disable-pip-version-check uv
UV="$DIR/uv/bin/uv"
"$UV" venv -q --python "$PYTHON" "$DIR/py"
PY="$DIR/py/bin/python"
extras=test,usb,qr,ui
# pyscard builds from source against libpcsclite, as in the Makefile.
if pkg-config --exists libpcsclite 2>/dev/null; then extras="$extras,pcsc"; fi
"$UV" pip install -q --python "$PY" --resolution lowest-direct -e ".[$extras]"
# The build backend at its floor (build-system.requires) builds the wheel.
setuptools_floor=$(sed -n 's/^requires = \["setuptools>=\([0-9.]*\)"\]$/\1/p' pyproject.toml)
[ -n "$setuptools_floor" ] || { echo "lowest-deps: no setuptools floor in pyproject.toml" >&2; exit 1; }
echo "setuptools==$setuptools_floor" >"$DIR/build-constraints.txt"
"$UV" build -q --wheel --out-dir "$DIR/dist" --build-constraint "$DIR/build-constraints.txt"
echo "lowest direct versions ($("$UV" --version); built with setuptools $setuptools_floor):"
"$UV" pip freeze -q --python "$PY" | grep -iE '^(trio|msgspec|cryptography|pyiso8583|httpx|h11|xmltodict|pyscard|pyusb|segno|pytest|pytest-trio|pytest-xdist|hypothesis|py8583|pyemv)==' |
    tr '\n' ' '
echo

# Every third-party package the code imports, at its floor, in the fast tests
# that use it: cryptography (kernel crypto, TLS), pyiso8583 (codec, dialects),
# msgspec (configuration, server, SBP), xmltodict (every XML read), trio
# (server, links, sd_notify), httpx/h11 (HTTP core, SBP), pyusb (PIN pad),
# segno (SBP QR). The whole suite at the floors also passes; it takes minutes.
"$PY" -m pytest -q -p no:cacheprovider -n 2 -m "not pcsc and not slow" \
    tests/base/test_xmlread.py tests/cardcore/protocol/test_xmlcodec.py \
    tests/cardcore/protocol/test_secure.py tests/cardcore/protocol/test_framing.py \
    tests/cardcore/protocol/test_session.py tests/cardcore/protocol/test_messages.py \
    tests/cardcore/test_config.py tests/cardcore/test_server.py tests/cardcore/test_sdnotify.py \
    tests/kernel/test_emv_crypto.py tests/kernel/test_dukpt.py tests/kernel/test_tr31.py \
    tests/acquirers/test_codec.py tests/acquirers/test_dialects.py tests/acquirers/test_tls.py \
    tests/acquirers/http tests/acquirers/sbp tests/hal/usbhid tests/simulators/usbhid

# One purchase through the installed command, as a user would make it.
data=$(mktemp -d)
trap 'kill $serve 2>/dev/null || true; rm -rf "$data"' EXIT
printf '[admin]\nscrypt-n = 1024\n' >"$data/fast.toml"
"$DIR/py/bin/cardcore" serve --simulator --port 0 --data-dir "$data/d" --config "$data/fast.toml" \
    --acons 2>"$data/serve.log" &
serve=$!
i=0
while [ ! -e "$data/d/run/ecr.addr" ]; do
    i=$((i + 1))
    if [ $i -gt 600 ] || ! kill -0 $serve 2>/dev/null; then
        cat "$data/serve.log" >&2
        echo "lowest-deps: cardcore serve did not start" >&2
        exit 1
    fi
    sleep 0.1
done
"$DIR/py/bin/cardcore" client transaction --type purchase --amount 000000012300 \
    --data-dir "$data/d" --json >"$data/answer.json"
grep -q '"tstatus": "approved"' "$data/answer.json"
kill -TERM $serve
wait $serve
echo "lowest direct versions: a purchase approved; $(($(date +%s) - start)) s in all"
