"""Objects: the embedded object store (`local`, its `index` and `multipart` uploads), bucket and key rules
(`names`), where a URI is read from (`locations`: the store, an external S3, `file://`), and model archives
fetched and unpacked safely (`archives`)."""
