"""faasq's queue worker: see DESIGN.md; built in a later increment."""
