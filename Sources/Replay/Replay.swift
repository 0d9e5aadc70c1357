// The replay engine; see docs/MODEL.md.
