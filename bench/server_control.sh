# Starting and stopping `hanlin serve` from the bench scripts (sourced by gpu_report.sh and
# serve_ab.sh): one server at a time, in server_pid and server_port; stopped on exit.

server_pid=
server_port=

stop_server() {
  [[ -n $server_pid ]] || return 0
  kill -TERM "$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=
}
trap stop_server EXIT

# GET /health/ready on 127.0.0.1:PORT answers 200. A subshell, so a refused connection only
# fails the check.
is_ready() (
  exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
  printf 'GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
  IFS= read -r -t 5 status_line <&3
  [[ $status_line == *" 200"* ]]
)

# Runs COMMAND (a `hanlin serve ... --port 0`) in the background, its output in LOG, and waits up
# to TIMEOUT seconds for it to be ready: sets server_port and returns 0, or stops it and returns 1.
launch_server() {  # LOG TIMEOUT COMMAND...
  local log_file=$1 timeout=$2 began=$SECONDS
  shift 2
  "$@" >"$log_file" 2>&1 &
  server_pid=$!
  server_port=
  while ((SECONDS - began < timeout)) && kill -0 "$server_pid" 2>/dev/null; do
    [[ -z $server_port ]] &&
      server_port=$(sed -n 's|^hanlin: serving .* on http://[^:]*:\([0-9]*\)$|\1|p' "$log_file" 2>/dev/null | head -n 1)
    [[ -n $server_port ]] && is_ready "$server_port" 2>/dev/null && return 0
    sleep 1
  done
  stop_server
  return 1
}
