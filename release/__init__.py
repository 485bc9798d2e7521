"""The release path: the pipeline image's identity and record, publishing (templates, modules, wheels, schema,
lineage), submission (one interface; the Vertex AI backend here, the local one in localcloud/)."""
