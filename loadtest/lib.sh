# Shell helpers the campaigns share (chaos.sh, fault_campaign.sh); sourced, not run.

# wait_for SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds; 1 if it never does
# within SECONDS.
wait_for() {
  local until=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$until" ] || return 1
    sleep 0.1
  done
}
