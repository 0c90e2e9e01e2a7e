"""faasq's gateway: see DESIGN.md; built in a later increment."""
