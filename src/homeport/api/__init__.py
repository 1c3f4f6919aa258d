"""Thin adapters: parse a request, call a service, render the reply."""
