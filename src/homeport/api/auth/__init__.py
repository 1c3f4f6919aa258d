"""Authentication: which face a request is for and whether a key the server knows signed it (`authenticator`),
the keys (`keys`), what a SigV4 request claims (`sigv4`), checking its signature (`signature`), and the error each
face answers a refusal with (`refusals`)."""
