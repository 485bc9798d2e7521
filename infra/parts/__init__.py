"""One construct per logical unit (cloud-foundation-fabric style); a stack only composes them.

Not named `constructs/`: `cdktf synth` runs the app from infra/, where such a folder would shadow the
`constructs` package that cdktf itself imports.
"""
