"""Pure desired-state builders for a Club's workloads: one module per managed resource.

Each `build_*` function takes a `WorkloadInputs` (and, for workers, a pool name) and returns the
object as a dict ready to apply, or None when the object should not exist (an HPA while autoscaling
is off, anything that scales while the Club is suspended). No I/O, no clock, no randomness: the same
inputs always give an equal object, so the caller can compare it with what the API server holds and
write nothing when they agree.

Modules: `inputs` (what every builder reads), `pod` (env, security context, pod template shared by
the API and the workers), `config_map`, `api_deployment`, `api_service`, `worker_deployment`,
`autoscaling` (HPAs, KEDA ScaledObjects and TriggerAuthentication), `pdb`, `network_policy`.
"""
