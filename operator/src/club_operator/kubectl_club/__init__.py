"""`kubectl club`: the operator's day-2 commands as a kubectl plugin (the `kubectl-club` entry point).

Every command reads only from the API server (the Club's status, its ClubBackups, ClubRestores,
VideoJobs and Events, pod logs); every mutating one writes one annotation or one field of the Club,
or creates one small custom object (ClubBackup, ClubRestore, Club, VideoJob) that the operator acts
on, so what it does is bounded by RBAC and visible to `kubectl get`. `cli` parses kubectl's own
flags and dispatches; `cluster` is the one module that talks to the API server; `render`,
`requests` and `completion` are pure."""
