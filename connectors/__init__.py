"""faasq's connectors: see DESIGN.md; built in a later increment."""
