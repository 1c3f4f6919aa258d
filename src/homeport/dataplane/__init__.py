"""The data plane: instance handles and their pooled connections, the router that picks a variant and an
instance for each request, streamed exchanges, and the meters counted on the request path."""
