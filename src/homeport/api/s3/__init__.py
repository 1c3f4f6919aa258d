"""The S3 face of the embedded object store: the REST handlers (`handlers`), the request as they read it
(`request`), bodies (`body`: plain, or aws-chunked through `chunked`, checked by `checksums`) and S3's XML
(`xmldoc`)."""
