"""The web console at /console: endpoints, scaling, jobs, in the browser, on the API's own port."""
