"""The platform's Prometheus rules, written once in Python: the SLO burn-rate recording rules and
alerts (slo.py), the alerts on clubs, queues and the operator (alerts.py), rendered as a plain
Prometheus rules file (rules.py) that the Helm chart ships (charts/club-operator/files/).

`python -m club_operator.monitoring` writes that file; `--check` fails when it is out of date.

What the rules expect of the scrape: every series of a club's pods (API, workers) carries `namespace`
and `club` labels (the pod's namespace and its `footballclub.io/club` label), and the operator's own
series keep their `namespace` and `club` labels (scraped with honor_labels) under the job named by
`alerts.OPERATOR_JOB`. Pure: no I/O but the command's file write."""
