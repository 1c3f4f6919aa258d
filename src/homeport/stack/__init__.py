"""Deployments as code: a file declaring models, endpoint configs, endpoints, scaling, alarms and monitoring
schedules, planned against what a server has and applied with the API's own calls (`homeport plan`, `apply`)."""
