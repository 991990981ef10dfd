#!/usr/bin/env bash
# The end-to-end demo: a central (seed) node, a wallet node and a minter node
# on loopback. Two payments go through the running wallet node, the central
# node relays them, the minter mints a block, and every node reaches the same
# tip. Fails loudly (with the node logs' tails) if a step times out.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/node}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }

DATA=$(mktemp -d "${TMPDIR:-/tmp}/sledchain-demo.XXXXXX")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
CENTRAL_PORT=$(free_port); WALLET_PORT=$(free_port); MINER_PORT=$(free_port)
SEED="127.0.0.1:$CENTRAL_PORT"
PIDS=()

cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$DATA"
}
trap cleanup EXIT

fail() {
  echo "DEMO FAILED: $*" >&2
  for n in central wallet miner; do
    [ -f "$DATA/$n.log" ] && { echo "--- $n.log (tail) ---" >&2; tail -n 25 "$DATA/$n.log" >&2; }
  done
  exit 1
}

node() { local port=$1; shift; "$BIN" --datadir "$DATA" --port "$port" "$@"; }
step() { printf '\n==> %s\n' "$*"; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local t=$1 what=$2; shift 2
  for _ in $(seq 1 $((t * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "timed out after ${t}s waiting for: $what"
}
height_of() { node "$1" status 2>/dev/null | awk '/^height:/ {print $2}'; }
tip_of() { node "$1" status 2>/dev/null | awk '/^tip:/ {print $2}'; }
at_height() { [ "$(height_of "$1")" = "$2" ]; }
running() { [ -S "$DATA/$1/control.sock" ] && node "$1" status >/dev/null 2>&1; }

step "central node ($CENTRAL_PORT): wallet, chain, and two minted payments"
CENTRAL=$(node "$CENTRAL_PORT" createwallet)
W=(); for i in 1 2 3 4; do W+=("$(node "$WALLET_PORT" createwallet)"); done
echo "CENTRAL=$CENTRAL"; for i in 0 1 2 3; do echo "W$((i+1))=${W[$i]}"; done
echo "genesis: $(node "$CENTRAL_PORT" createblockchain --address "$CENTRAL")"
node "$CENTRAL_PORT" send --from "$CENTRAL" --to "${W[0]}" --amount 10 --mint >/dev/null
node "$CENTRAL_PORT" send --from "$CENTRAL" --to "${W[1]}" --amount 10 --mint >/dev/null
"$BIN" --datadir "$DATA" --port "$CENTRAL_PORT" startnode --seed "$SEED" >"$DATA/central.log" 2>&1 & PIDS+=($!); CENTRAL_PID=$!
wait_for 10 "central node to start" running "$CENTRAL_PORT"

step "wallet node ($WALLET_PORT): empty chain, syncs from the seed"
"$BIN" --datadir "$DATA" --port "$WALLET_PORT" startnode --seed "$SEED" >"$DATA/wallet.log" 2>&1 & PIDS+=($!); WALLET_PID=$!
wait_for 20 "wallet node to sync to height 2" at_height "$WALLET_PORT" 2

step "minter node ($MINER_PORT): syncs, mints at 2 transactions"
MINER=$(node "$MINER_PORT" createwallet); echo "MINER=$MINER"
"$BIN" --datadir "$DATA" --port "$MINER_PORT" startnode --seed "$SEED" --minter "$MINER" >"$DATA/miner.log" 2>&1 & PIDS+=($!); MINER_PID=$!
wait_for 20 "minter node to sync to height 2" at_height "$MINER_PORT" 2
wait_for 10 "minter to connect to the seed" bash -c "grep -q 'connected to' '$DATA/miner.log'"
sleep 1

step "two payments through the running wallet node"
echo "W1 -> W3 1 coin: $(node "$WALLET_PORT" send --from "${W[0]}" --to "${W[2]}" --amount 1 || fail 'send W1->W3')"
echo "W2 -> W4 1 coin: $(node "$WALLET_PORT" send --from "${W[1]}" --to "${W[3]}" --amount 1 || fail 'send W2->W4')"

step "waiting for the minted block on every node"
for p in "$CENTRAL_PORT" "$WALLET_PORT" "$MINER_PORT"; do
  wait_for 30 "node $p to reach height 3" at_height "$p" 3
done
T1=$(tip_of "$CENTRAL_PORT"); T2=$(tip_of "$WALLET_PORT"); T3=$(tip_of "$MINER_PORT")
[ "$T1" = "$T2" ] && [ "$T2" = "$T3" ] || fail "tips differ: $T1 $T2 $T3"

for n in central:$CENTRAL_PORT wallet:$WALLET_PORT miner:$MINER_PORT; do
  step "status of the ${n%%:*} node"; node "${n##*:}" status
done

step "balances"
printf '%-8s %-36s %s\n' NAME ADDRESS BALANCE
bal() { node "$CENTRAL_PORT" getbalance --address "$1" | awk '{print $(NF-1)}'; }
printf '%-8s %-36s %s\n' CENTRAL "$CENTRAL" "$(bal "$CENTRAL")"
for i in 0 1 2 3; do printf '%-8s %-36s %s\n' "W$((i+1))" "${W[$i]}" "$(bal "${W[$i]}")"; done
printf '%-8s %-36s %s\n' MINER "$MINER" "$(bal "$MINER")"

step "stopping every node with SIGINT"
for pid in $CENTRAL_PID $WALLET_PID $MINER_PID; do kill -INT "$pid" || fail "node (pid $pid) is no longer running"; done
for pid in $CENTRAL_PID $WALLET_PID $MINER_PID; do
  rc=0; wait "$pid" || rc=$?
  [ "$rc" = 0 ] || fail "node (pid $pid) exited with $rc"
done
PIDS=()
echo "all nodes exited 0"
echo
echo "DEMO OK"
