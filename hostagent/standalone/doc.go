// Package standalone is the host agent without a hub, "like chaosd but
// better": a local REST API (described by openapi.yaml, served at
// /openapi.yaml) to start, list and recover attacks on this host, to keep
// cron schedules of attacks, and to apply the same Injection or Experiment
// manifests a hub sends. Faults run through the shared fault engine; the
// engine's bbolt journal also keeps the attacks and schedules, so:
//
//   - every attack has a deadline (a duration, by default DefaultDuration,
//     at most Options.MaxDuration) after which the engine recovers it on
//     its own;
//   - after kill -9 the next start first reaps every fault the journal
//     holds, then applies again each attack whose deadline has not passed
//     (a process kill, being instantaneous, is not repeated), and marks the
//     others recovered: nothing is left behind, nothing outlives its
//     deadline;
//   - a stop on purpose (SIGTERM) recovers every attack;
//   - schedules survive restarts. A firing missed while the agent was down
//     is not run late: the next firing is computed from the time of the
//     start. A firing that finds the schedule's previous attack still active
//     is skipped (counted in the schedule's status), so two attacks of one
//     schedule never overlap.
//
// Requests are decoded strictly and checked with the engine's own Prepare
// before anything changes: a malformed request gets 400 with a message that
// names the field, and nothing is applied.
package standalone
