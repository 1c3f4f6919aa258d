"""Engines: where instances run, behind one interface (`base.Engine`). `local` runs them as processes on this
machine, forked from a template process (`zygote`)."""
