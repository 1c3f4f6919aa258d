"""Controllers: loops that reconcile what is wanted with what runs (endpoints, transform jobs, async requests,
metrics, alarms, autoscaling, notifications). Each decides with a pure `*_plan` function of (desired, observed,
now) where the decision is more than a step, and acts through services, engines and the data plane."""
