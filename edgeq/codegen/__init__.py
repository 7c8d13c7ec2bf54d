"""Code generation: lowered IR -> template contexts (plain dicts) -> files (emit.py); the Jinja environment
(templates.py)."""
