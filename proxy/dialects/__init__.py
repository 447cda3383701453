"""Front-end dialects: one per wire protocol an app may speak to the proxy."""
